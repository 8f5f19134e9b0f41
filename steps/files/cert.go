package files

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/steps"
)

// Key types cert.generate makes.
const (
	KeyECDSAP256 = "ecdsa-p256"
	KeyRSA2048   = "rsa-2048"
)

// CertFiles are the four files of a self-signed CA and the server
// certificate it signed. Each defaults to a name inside Dir.
type CertFiles struct {
	Dir    string `yaml:"dir"`
	CACert string `yaml:"ca_cert"`
	CAKey  string `yaml:"ca_key"`
	Cert   string `yaml:"cert"`
	Key    string `yaml:"key"`
}

func (f *CertFiles) defaults() {
	if f.Dir == "" {
		f.Dir = "certs"
	}
	for _, x := range []struct {
		p    *string
		name string
	}{{&f.CACert, "ca.crt"}, {&f.CAKey, "ca.key"}, {&f.Cert, "server.crt"}, {&f.Key, "server.key"}} {
		if *x.p == "" {
			*x.p = path.Join(f.Dir, x.name)
		}
	}
}

func (f *CertFiles) validate() error {
	f.defaults()
	seen := map[string]string{}
	for _, x := range [][2]string{{"ca_cert", f.CACert}, {"ca_key", f.CAKey}, {"cert", f.Cert}, {"key", f.Key}} {
		if err := checkPath(x[0], x[1]); err != nil {
			return err
		}
		if prev, dup := seen[x[1]]; dup {
			return fmt.Errorf("%s and %s are the same file %s", prev, x[0], x[1])
		}
		seen[x[1]] = x[0]
	}
	return nil
}

func (f *CertFiles) list() string {
	return strings.Join([]string{f.CACert, f.CAKey, f.Cert, f.Key}, ", ")
}

// CertGenerate is the `cert.generate` action: a self-signed CA and a server
// certificate signed by it, written as PEM (keys 0600 as PKCS#8,
// certificates 0644). Existing files that are valid, belong together and
// carry exactly the requested names are kept, unless force is set; when only
// the server certificate is stale, the CA is kept and a new server
// certificate issued, so clients that trust the CA keep trusting it.
//
//   - cert.generate:
//     dir: certs                 # ca.crt, ca.key, server.crt, server.key
//     dns: [localhost, nginx]
//     ip: [127.0.0.1]
//     days: 365
//     key_type: ecdsa-p256       # or rsa-2048
//
// Only the certificates are reported for the step's checkpoint; the keys are
// secret material and stay out of git (list them in .gitignore).
type CertGenerate struct {
	CertFiles  `yaml:",inline"`
	CommonName string   `yaml:"common_name"`
	DNS        []string `yaml:"dns"`
	IP         []string `yaml:"ip"`
	Days       int      `yaml:"days"`
	CADays     int      `yaml:"ca_days"`
	KeyType    string   `yaml:"key_type"`
	Force      bool     `yaml:"force"`

	ready bool
	ips   []net.IP
}

// Validate implements runbooks.Validator.
func (c *CertGenerate) Validate() error {
	if err := c.CertFiles.validate(); err != nil {
		return err
	}
	if len(c.DNS)+len(c.IP) == 0 {
		return errors.New("give the names the certificate is for: dns (host names) and/or ip (addresses)")
	}
	for _, d := range c.DNS {
		if d == "" || strings.ContainsAny(d, " /:") {
			return fmt.Errorf("dns %q is not a host name", d)
		}
	}
	c.ips = c.ips[:0]
	for _, s := range c.IP {
		ip := net.ParseIP(s)
		if ip == nil {
			return fmt.Errorf("ip %q is not an IP address", s)
		}
		c.ips = append(c.ips, ip)
	}
	if c.Days == 0 {
		c.Days = 365
	}
	if c.CADays == 0 {
		c.CADays = max(3650, c.Days)
	}
	if c.Days < 1 || c.Days > 3650 || c.CADays < c.Days || c.CADays > 36500 {
		return fmt.Errorf("days %d must be 1–3650, and ca_days %d at least days", c.Days, c.CADays)
	}
	switch c.KeyType {
	case "":
		c.KeyType = KeyECDSAP256
	case KeyECDSAP256, KeyRSA2048:
	default:
		return fmt.Errorf("key_type %q: expected %s or %s", c.KeyType, KeyECDSAP256, KeyRSA2048)
	}
	if c.CommonName == "" {
		if len(c.DNS) > 0 {
			c.CommonName = c.DNS[0]
		} else {
			c.CommonName = c.IP[0]
		}
	}
	c.ready = true
	return nil
}

// Describe implements steps.Action.
func (c *CertGenerate) Describe(*steps.Env) string {
	f := c.CertFiles
	f.defaults()
	kt, days := c.KeyType, c.Days
	if kt == "" {
		kt = KeyECDSAP256
	}
	if days == 0 {
		days = 365
	}
	names := append(append([]string(nil), c.DNS...), c.IP...)
	s := fmt.Sprintf("generate a self-signed CA (%s, %s) and a server certificate (%s, %s) for %s, %s keys, valid %d days",
		f.CACert, f.CAKey, f.Cert, f.Key, strings.Join(names, ", "), kt, days)
	if c.Force {
		return s + "; replacing existing files (force)"
	}
	return s + "; valid existing files are kept"
}

// existing reads the files as they are; nil fields are missing or broken.
type certSet struct {
	caCert, cert *x509.Certificate
	caKey, key   crypto.Signer
}

func readCert(p string) (*x509.Certificate, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(blk.Bytes)
}

func readKey(p string) (crypto.Signer, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM key")
	}
	var k any
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", blk.Type)
	}
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key %T", k)
	}
	return s, nil
}

func samePublic(a crypto.PublicKey, b crypto.Signer) bool {
	type eq interface{ Equal(crypto.PublicKey) bool }
	e, ok := b.Public().(eq)
	return ok && e.Equal(a)
}

func keyTypeOf(k crypto.PublicKey) string {
	switch v := k.(type) {
	case *ecdsa.PublicKey:
		if v.Curve == elliptic.P256() {
			return KeyECDSAP256
		}
	case *rsa.PublicKey:
		if v.N.BitLen() == 2048 {
			return KeyRSA2048
		}
	}
	return fmt.Sprintf("%T", k)
}

// caProblem says why the existing CA cannot be kept ("" when it can).
func (c *CertGenerate) caProblem(pl map[string]place, now time.Time) (string, *certSet) {
	set := &certSet{}
	var err error
	if set.caCert, err = readCert(pl["ca_cert"].abs); err != nil {
		return fmt.Sprintf("%s: %v", c.CACert, briefErr(err)), nil
	}
	if set.caKey, err = readKey(pl["ca_key"].abs); err != nil {
		return fmt.Sprintf("%s: %v", c.CAKey, briefErr(err)), nil
	}
	switch {
	case !set.caCert.IsCA:
		return c.CACert + " is not a CA certificate", nil
	case !samePublic(set.caCert.PublicKey, set.caKey):
		return c.CAKey + " does not belong to " + c.CACert, nil
	case now.Before(set.caCert.NotBefore) || now.Add(24*time.Duration(c.Days)*time.Hour).After(set.caCert.NotAfter):
		return fmt.Sprintf("%s expires %s, before the new server certificate would", c.CACert, set.caCert.NotAfter.UTC().Format(time.DateOnly)), nil
	}
	return "", set
}

// serverProblem says why the existing server certificate cannot be kept.
func (c *CertGenerate) serverProblem(pl map[string]place, set *certSet, now time.Time) string {
	var err error
	if set.cert, err = readCert(pl["cert"].abs); err != nil {
		return fmt.Sprintf("%s: %v", c.Cert, briefErr(err))
	}
	if set.key, err = readKey(pl["key"].abs); err != nil {
		return fmt.Sprintf("%s: %v", c.Key, briefErr(err))
	}
	roots := x509.NewCertPool()
	roots.AddCert(set.caCert)
	if _, err := set.cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now}); err != nil {
		return fmt.Sprintf("%s does not verify against %s: %v", c.Cert, c.CACert, err)
	}
	if !samePublic(set.cert.PublicKey, set.key) {
		return c.Key + " does not belong to " + c.Cert
	}
	if kt := keyTypeOf(set.cert.PublicKey); kt != c.KeyType {
		return fmt.Sprintf("%s has a %s key, %s was asked for", c.Cert, kt, c.KeyType)
	}
	want := c.sanSet()
	got := sanSet(set.cert.DNSNames, set.cert.IPAddresses)
	if !slices.Equal(want, got) {
		return fmt.Sprintf("%s is for %s, not %s", c.Cert, strings.Join(got, ", "), strings.Join(want, ", "))
	}
	return ""
}

func briefErr(err error) string {
	if errors.Is(err, fs.ErrNotExist) {
		return "missing"
	}
	return err.Error()
}

func (c *CertGenerate) sanSet() []string { return sanSet(c.DNS, c.ips) }

func sanSet(dns []string, ips []net.IP) []string {
	out := make([]string, 0, len(dns)+len(ips))
	for _, d := range dns {
		out = append(out, strings.ToLower(d))
	}
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Run implements steps.Action.
func (c *CertGenerate) Run(_ context.Context, env *steps.Env) error {
	if !c.ready {
		if err := c.Validate(); err != nil {
			return err
		}
	}
	pl := map[string]place{}
	for k, p := range map[string]string{"ca_cert": c.CACert, "ca_key": c.CAKey, "cert": c.Cert, "key": c.Key} {
		x, err := locate(env, p)
		if err != nil {
			return err
		}
		pl[k] = x
	}
	now := time.Now()
	if env.Clock != nil {
		now = env.Clock.Now()
	}
	var set *certSet
	newCA := true
	if !c.Force {
		problem, s := c.caProblem(pl, now)
		if problem == "" {
			newCA, set = false, s
			sp := c.serverProblem(pl, set, now)
			if sp == "" {
				env.Printf("keeping the existing CA and server certificate (%s): valid, matching, for %s", c.CertFiles.list(), strings.Join(c.sanSet(), ", "))
				c.report(env, set.caCert, set.cert)
				return nil
			}
			env.Printf("keeping the CA %s; new server certificate: %s", c.CACert, sp)
		} else {
			env.Printf("new CA: %s", problem)
		}
	} else {
		env.Printf("force: replacing the CA and the server certificate")
	}
	if newCA {
		set = &certSet{}
		key, err := newKey(c.KeyType)
		if err != nil {
			return err
		}
		ca, der, err := c.issueCA(key, now)
		if err != nil {
			return err
		}
		set.caCert, set.caKey = ca, key
		if err := c.write(env, pl["ca_key"], keyPEM(key), 0o600, false); err != nil {
			return err
		}
		if err := c.write(env, pl["ca_cert"], certPEM(der), 0o644, true); err != nil {
			return err
		}
	}
	key, err := newKey(c.KeyType)
	if err != nil {
		return err
	}
	cert, der, err := c.issueServer(key, set.caCert, set.caKey, now)
	if err != nil {
		return err
	}
	if err := c.write(env, pl["key"], keyPEM(key), 0o600, false); err != nil {
		return err
	}
	if err := c.write(env, pl["cert"], certPEM(der), 0o644, true); err != nil {
		return err
	}
	c.report(env, set.caCert, cert)
	return nil
}

func (c *CertGenerate) write(env *steps.Env, p place, data []byte, mode fs.FileMode, public bool) error {
	if err := saveOnce(env, p); err != nil {
		return err
	}
	if err := writeAtomic(p.abs, data, mode, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", p.shown, err)
	}
	if public {
		p.touch(env)
	}
	env.Printf("wrote %s (mode %04o)", p.shown, mode)
	return nil
}

func (c *CertGenerate) report(env *steps.Env, ca, cert *x509.Certificate) {
	fp := func(x *x509.Certificate) string {
		s := sha256.Sum256(x.Raw)
		return hex.EncodeToString(s[:])
	}
	env.Printf("CA     %s: %s, %s, until %s, SHA-256 %s", c.CACert, ca.Subject.CommonName, keyTypeOf(ca.PublicKey), ca.NotAfter.UTC().Format(time.DateOnly), fp(ca))
	env.Printf("server %s: %s, %s, SANs %s, until %s, SHA-256 %s", c.Cert, cert.Subject.CommonName, keyTypeOf(cert.PublicKey),
		strings.Join(sanSet(cert.DNSNames, cert.IPAddresses), ", "), cert.NotAfter.UTC().Format(time.DateOnly), fp(cert))
}

func newKey(kt string) (crypto.Signer, error) {
	var k crypto.Signer
	var err error
	if kt == KeyRSA2048 {
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", kt, err)
	}
	return k, nil
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func skid(pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	s := sha256.Sum256(der)
	return s[:20]
}

func (c *CertGenerate) issueCA(key crypto.Signer, now time.Time) (*x509.Certificate, []byte, error) {
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: c.CommonName + " CA (runbook, self-signed)"},
		NotBefore:             now.Add(-time.Hour), // tolerate a little clock skew
		NotAfter:              now.Add(24 * time.Duration(c.CADays) * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          skid(key.Public()),
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	return cert, der, err
}

func (c *CertGenerate) issueServer(key crypto.Signer, ca *x509.Certificate, caKey crypto.Signer, now time.Time) (*x509.Certificate, []byte, error) {
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	usage := x509.KeyUsageDigitalSignature
	if _, isRSA := key.(*rsa.PrivateKey); isRSA {
		usage |= x509.KeyUsageKeyEncipherment
	}
	tpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: c.CommonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Duration(c.Days) * time.Hour),
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              c.DNS,
		IPAddresses:           c.ips,
		SubjectKeyId:          skid(key.Public()),
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("create server certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	return cert, der, err
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func keyPEM(k crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		// Only ECDSA and RSA keys made above reach here; both marshal.
		panic("files: marshal private key: " + err.Error())
	}
	var b bytes.Buffer
	_ = pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	return b.Bytes()
}

// CertRemove is the `cert.remove` action, the undo of cert.generate: it
// removes exactly the files cert.generate created in this step and puts back
// any it replaced. Files it kept are left alone.
//
//   - cert.remove: {dir: certs}
type CertRemove struct {
	CertFiles `yaml:",inline"`
}

// Validate implements runbooks.Validator.
func (c *CertRemove) Validate() error { return c.CertFiles.validate() }

// Describe implements steps.Action.
func (c *CertRemove) Describe(*steps.Env) string {
	f := c.CertFiles
	f.defaults()
	return "remove the certificate files cert.generate wrote in this step (" + f.list() + "), putting back any it replaced"
}

// Run implements steps.Action.
func (c *CertRemove) Run(_ context.Context, env *steps.Env) error {
	if err := c.Validate(); err != nil {
		return err
	}
	// Certificates before keys, then the CA: a half-finished undo leaves
	// no certificate without its key.
	for _, x := range []struct {
		p      string
		public bool
	}{{c.Cert, true}, {c.Key, false}, {c.CACert, true}, {c.CAKey, false}} {
		p, err := locate(env, x.p)
		if err != nil {
			return err
		}
		res, err := restore(env, p)
		if err != nil {
			return err
		}
		if x.public && (res == restoredContent || res == removedCreated) {
			p.touch(env)
		}
		env.Printf("%s", res.describe(p.shown))
	}
	return nil
}
