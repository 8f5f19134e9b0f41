package files_test

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/steps/files"
)

func certAction() *files.CertGenerate {
	return &files.CertGenerate{DNS: []string{"localhost"}, IP: []string{"127.0.0.1"}, Days: 365}
}

// handshake serves TLS with the generated server certificate on loopback
// and connects as a client trusting only the generated CA: the proof that
// the files work together.
func handshake(t *testing.T, dir, serverName string) error {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "certs/server.crt"), filepath.Join(dir, "certs/server.key"))
	if err != nil {
		t.Fatalf("load key pair: %v", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "certs/ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt holds no certificate")
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		_ = c.(*tls.Conn).Handshake()
		_, _ = io.Copy(io.Discard, c)
		c.Close()
	}()
	conn, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: pool, ServerName: serverName})
	if err != nil {
		return err
	}
	return conn.Close()
}

func TestCertGenerateDoVerifyUndo(t *testing.T) {
	env, out := newEnv(t, nil)
	mustRun(t, certAction(), env)
	for f, mode := range map[string]os.FileMode{"certs/ca.crt": 0o644, "certs/ca.key": 0o600, "certs/server.crt": 0o644, "certs/server.key": 0o600} {
		if m := modeOf(t, env, f); m != mode {
			t.Errorf("%s: mode %04o, want %04o", f, m, mode)
		}
	}
	// Keys are secret material: only the certificates go to the checkpoint.
	touched(t, env, "certs/ca.crt", "certs/server.crt")

	// verify: a real TLS handshake, by name and by address.
	for _, name := range []string{"localhost", "127.0.0.1"} {
		if err := handshake(t, env.Workspace, name); err != nil {
			t.Errorf("handshake as %s: %v", name, err)
		}
	}
	if err := handshake(t, env.Workspace, "nginx"); err == nil || !strings.Contains(err.Error(), "certificate is valid for localhost, not nginx") {
		t.Errorf("handshake for a name not in the SANs: %v", err)
	}
	mustRun(t, &files.Assert{Path: "certs/server.key", Mode: 0o600, Content: "-----BEGIN PRIVATE KEY-----"}, env)

	key, err := tls.LoadX509KeyPair(filepath.Join(env.Workspace, "certs/server.crt"), filepath.Join(env.Workspace, "certs/server.key"))
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := key.PrivateKey.(*ecdsa.PrivateKey); !ok || k.Curve.Params().Name != "P-256" {
		t.Errorf("key %T, want ECDSA P-256", key.PrivateKey)
	}
	keyPEM := read(t, env, "certs/server.key")
	caKeyPEM := read(t, env, "certs/ca.key")
	for _, k := range []string{keyPEM, caKeyPEM} {
		for _, line := range strings.Split(k, "\n") {
			if line != "" && !strings.HasPrefix(line, "-----") && strings.Contains(out.String(), line) {
				t.Fatalf("key material in the output:\n%s", out)
			}
		}
	}
	if !strings.Contains(out.String(), "server certs/server.crt: localhost, ecdsa-p256, SANs 127.0.0.1, localhost, until ") {
		t.Errorf("output:\n%s", out)
	}

	// Idempotent: a second run keeps everything.
	out.Reset()
	caBefore := read(t, env, "certs/ca.crt")
	srvBefore := read(t, env, "certs/server.crt")
	mustRun(t, certAction(), env)
	if !strings.Contains(out.String(), "keeping the existing CA and server certificate") || read(t, env, "certs/server.crt") != srvBefore {
		t.Errorf("second run replaced valid files:\n%s", out)
	}

	// New names: the CA stays, the server certificate is reissued.
	out.Reset()
	more := certAction()
	more.DNS = append(more.DNS, "nginx")
	mustRun(t, more, env)
	if read(t, env, "certs/ca.crt") != caBefore {
		t.Error("the CA was replaced for a SAN change")
	}
	if !strings.Contains(out.String(), "keeping the CA certs/ca.crt; new server certificate: certs/server.crt is for 127.0.0.1, localhost, not 127.0.0.1, localhost, nginx") {
		t.Errorf("output:\n%s", out)
	}
	if err := handshake(t, env.Workspace, "nginx"); err != nil {
		t.Errorf("handshake as nginx after reissue: %v", err)
	}

	// undo: everything this step created goes, with the certs directory.
	out.Reset()
	mustRun(t, &files.CertRemove{}, env)
	if exists(env, "certs") {
		t.Errorf("certs left behind:\n%s", out)
	}
	for _, f := range []string{"certs/ca.crt", "certs/ca.key", "certs/server.crt", "certs/server.key"} {
		if !strings.Contains(out.String(), "removed "+f+" (this step created it)") {
			t.Errorf("undo output lacks %s:\n%s", f, out)
		}
		mustRun(t, &files.Assert{Path: f, Absent: true}, env)
	}
}

// With force, existing files are replaced, and the undo puts them back.
func TestCertGenerateForceUndoRestores(t *testing.T) {
	env, _ := newEnv(t, nil)
	write(t, env, "tls/ca.crt", "old ca\n", 0o644)
	write(t, env, "tls/keep.txt", "unrelated\n", 0o644)
	c := certAction()
	c.Dir, c.Force, c.KeyType = "tls", true, files.KeyRSA2048
	mustRun(t, c, env)
	pair, err := tls.LoadX509KeyPair(filepath.Join(env.Workspace, "tls/server.crt"), filepath.Join(env.Workspace, "tls/server.key"))
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := pair.PrivateKey.(*rsa.PrivateKey); !ok || k.N.BitLen() != 2048 {
		t.Errorf("key %T, want RSA 2048", pair.PrivateKey)
	}
	mustRun(t, &files.CertRemove{CertFiles: files.CertFiles{Dir: "tls"}}, env)
	if got := read(t, env, "tls/ca.crt"); got != "old ca\n" {
		t.Errorf("ca.crt after undo: %q", got)
	}
	if exists(env, "tls/server.crt") || exists(env, "tls/server.key") || exists(env, "tls/ca.key") {
		t.Error("created files left behind")
	}
	if read(t, env, "tls/keep.txt") != "unrelated\n" {
		t.Error("an unrelated file was touched")
	}
}

// Files that were there and valid are not removed by the undo: this step
// did not create them.
func TestCertRemoveKeepsWhatItKept(t *testing.T) {
	env, out := newEnv(t, nil)
	mustRun(t, certAction(), env)
	other, _ := newEnv(t, nil)
	other.Workspace = env.Workspace // same workspace, a later step
	mustRun(t, certAction(), other)
	mustRun(t, &files.CertRemove{}, other)
	if !exists(env, "certs/server.crt") || !exists(env, "certs/ca.key") {
		t.Errorf("the undo of a step that kept the files removed them:\n%s", out)
	}
}

func TestCertGenerateDamagedFiles(t *testing.T) {
	env, out := newEnv(t, nil)
	mustRun(t, certAction(), env)
	write(t, env, "certs/server.key", "garbage", 0o600)
	out.Reset()
	mustRun(t, certAction(), env)
	if !strings.Contains(out.String(), "keeping the CA certs/ca.crt; new server certificate: certs/server.key: no PEM key") {
		t.Errorf("output:\n%s", out)
	}
	if err := handshake(t, env.Workspace, "localhost"); err != nil {
		t.Errorf("handshake after repair: %v", err)
	}
}

func TestCertGenerateValidate(t *testing.T) {
	for _, tc := range []struct {
		c    files.CertGenerate
		want string
	}{
		{files.CertGenerate{}, "give the names the certificate is for: dns (host names) and/or ip (addresses)"},
		{files.CertGenerate{IP: []string{"300.1.1.1"}}, `ip "300.1.1.1" is not an IP address`},
		{files.CertGenerate{DNS: []string{"a b"}}, `dns "a b" is not a host name`},
		{files.CertGenerate{DNS: []string{"x"}, KeyType: "dsa"}, `key_type "dsa": expected ecdsa-p256 or rsa-2048`},
		{files.CertGenerate{DNS: []string{"x"}, Days: 5000}, "days 5000 must be 1–3650, and ca_days 5000 at least days"},
		{files.CertGenerate{DNS: []string{"x"}, CertFiles: files.CertFiles{Cert: "a.pem", Key: "a.pem"}}, "cert and key are the same file a.pem"},
	} {
		err := tc.c.Validate()
		if err == nil || err.Error() != tc.want {
			t.Errorf("Validate(%+v):\n got %v\nwant %s", tc.c, err, tc.want)
		}
	}
	env, _ := newEnv(t, nil)
	want := "generate a self-signed CA (certs/ca.crt, certs/ca.key) and a server certificate (certs/server.crt, certs/server.key) for localhost, 127.0.0.1, ecdsa-p256 keys, valid 365 days; valid existing files are kept"
	if got := certAction().Describe(env); got != want {
		t.Errorf("Describe:\n got %s\nwant %s", got, want)
	}
}

// The nginx template's default paths name the files cert.generate writes.
func TestCertPEMShapes(t *testing.T) {
	env, _ := newEnv(t, nil)
	mustRun(t, certAction(), env)
	for f, typ := range map[string]string{"certs/ca.crt": "CERTIFICATE", "certs/server.crt": "CERTIFICATE", "certs/server.key": "PRIVATE KEY", "certs/ca.key": "PRIVATE KEY"} {
		blk, rest := pem.Decode([]byte(read(t, env, f)))
		if blk == nil || blk.Type != typ || len(rest) != 0 {
			t.Errorf("%s: not a single PEM %s", f, typ)
		}
	}
	ca, err := x509.ParseCertificate(func() []byte { b, _ := pem.Decode([]byte(read(t, env, "certs/ca.crt"))); return b.Bytes }())
	if err != nil || !ca.IsCA || !ca.MaxPathLenZero {
		t.Errorf("CA certificate: %v %+v", err, ca)
	}
}

func BenchmarkCertGenerate(b *testing.B) {
	for _, kt := range []string{files.KeyECDSAP256, files.KeyRSA2048} {
		b.Run(kt, func(b *testing.B) {
			for b.Loop() {
				env, _ := newEnv(b, nil)
				env.Out = nil
				c := certAction()
				c.KeyType = kt
				mustRun(b, c, env)
			}
		})
	}
}
