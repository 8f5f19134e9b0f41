package runbooks_test

import (
	"strings"
	"testing"
)

func TestParseCheckpointsPush(t *testing.T) {
	for _, push := range []string{"origin", "team/backup", "git@git.example.com:ops/ws.git", "ssh://git@git.example.com/ops/ws.git", "https://git.example.com/ops/ws.git", "/srv/git/ws.git", "file:///srv/git/ws.git"} {
		rb, err := parse(t, "checkpoints:\n  push: \""+push+"\"\n"+mini(utcSchedule, "08:00-09:00", ""), nil)
		if err != nil {
			t.Fatalf("push %q: %v", push, err)
		}
		if rb.Checkpoints.Push != push {
			t.Fatalf("push %q read as %q", push, rb.Checkpoints.Push)
		}
	}
	rb, err := parse(t, mini(utcSchedule, "08:00-09:00", ""), nil)
	if err != nil || rb.Checkpoints.Push != "" {
		t.Fatalf("no block: %q, %v", rb.Checkpoints.Push, err)
	}
}

func TestParseCheckpointsRefusals(t *testing.T) {
	body := mini(utcSchedule, "08:00-09:00", "")
	tests := []struct{ name, block, want string }{
		{"a password in the URL", "checkpoints:\n  push: https://ana:s3cret@git.example.com/ws.git\n", "rb.yaml:2:9: checkpoints push must not hold credentials"},
		{"a token as the user", "checkpoints:\n  push: https://ghp_abc@git.example.com/ws.git\n", "rb.yaml:2:9: checkpoints push must not hold credentials"},
		{"an empty remote", "checkpoints:\n  push: \"\"\n", "rb.yaml:2:9: checkpoints push must name a git remote"},
		{"a remote with a space", "checkpoints:\n  push: \"my remote\"\n", "rb.yaml:2:9: checkpoints push must name a git remote"},
		{"an option as a remote", "checkpoints:\n  push: \"--mirror\"\n", "rb.yaml:2:9: checkpoints push must name a git remote"},
		{"an unknown key", "checkpoints:\n  pull: origin\n", `rb.yaml:2:3: unknown key "pull" in checkpoints`},
		{"a list", "checkpoints: [origin]\n", "rb.yaml:1:14: checkpoints must be a mapping, found a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.block+body, nil)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got\n%v\nwant a line with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "ghp_abc") {
				t.Fatalf("the error shows the credential: %v", err)
			}
		})
	}
}
