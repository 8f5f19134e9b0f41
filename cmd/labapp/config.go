package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strings"
)

// Config is the application's configuration. Each secret comes from the
// first of: the file named by NAME_FILE, /run/secrets/<name>, the
// environment variable NAME. Where each came from is reported (never the
// value), so a rehearsal can check that secrets left the environment.
type Config struct {
	Addr       string
	DBHost     string
	DBPort     string
	DBName     string
	DBUser     string
	DBPassword string
	SecretKey  string
	sources    map[string]string
}

// secretDir is where Docker and compose mount secrets.
const secretDir = "/run/secrets/"

func loadConfig(getenv func(string) string, readFile func(string) ([]byte, error)) (Config, error) {
	c := Config{sources: map[string]string{}}
	plain := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	secret := func(name string) (string, error) {
		key := strings.ToLower(name)
		if p := getenv(name + "_FILE"); p != "" {
			b, err := readFile(p)
			if err != nil {
				return "", fmt.Errorf("%s_FILE=%s: %w", name, p, err)
			}
			c.sources[key] = "file"
			return strings.TrimRight(string(b), "\r\n"), nil
		}
		b, err := readFile(secretDir + key)
		switch {
		case err == nil:
			c.sources[key] = "file"
			return strings.TrimRight(string(b), "\r\n"), nil
		case !errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("read %s%s: %w", secretDir, key, err)
		}
		if v := getenv(name); v != "" {
			c.sources[key] = "env"
			return v, nil
		}
		c.sources[key] = "unset"
		return "", nil
	}
	c.Addr = plain("LABAPP_ADDR", ":8000")
	c.DBHost = plain("DB_HOST", "db")
	c.DBPort = plain("DB_PORT", "5432")
	c.DBName = plain("DB_NAME", "app")
	c.DBUser = plain("DB_USER", "app")
	var err error
	if c.DBPassword, err = secret("DB_PASSWORD"); err != nil {
		return c, err
	}
	if c.SecretKey, err = secret("SECRET_KEY"); err != nil {
		return c, err
	}
	return c, nil
}

// DSN is the database connection string (holds the password: never log it).
func (c Config) DSN() string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(c.DBUser, c.DBPassword),
		Host: c.DBHost + ":" + c.DBPort, Path: "/" + c.DBName, RawQuery: "sslmode=disable&connect_timeout=5"}
	return u.String()
}

// Sources says where each secret came from: "db_password=file secret_key=env".
func (c Config) Sources() string {
	keys := make([]string, 0, len(c.sources))
	for k := range c.sources {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + c.sources[k]
	}
	return strings.Join(parts, " ")
}
