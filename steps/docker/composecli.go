package docker

import "context"

// DetectCompose finds the compose CLI the host has, the way compose.apply
// does: the `docker compose` plugin, else `docker-compose`. It returns the
// program and its leading arguments ("docker", "compose") and the CLI's
// version. endpoint is the engine the CLI is asked about ("" for the
// default). Other packages that must run compose (the rehearsal lab) use
// it so that every part of runbook picks the same CLI.
func DetectCompose(ctx context.Context, endpoint string) (argv []string, version string, err error) {
	c, err := detectCompose(ctx, endpoint)
	if err != nil {
		return nil, "", err
	}
	return append([]string(nil), c.argv...), c.version, nil
}
