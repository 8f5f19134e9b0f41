package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one versioned step of the store's schema: the file
// migrations/NNNN_name.sql, applied once, in order, in a transaction.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations lists the embedded migrations in order.
func Migrations() ([]Migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "migrations/"), ".sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration file %s is not NNNN_name.sql", n)
		}
		body, err := migrationFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("store: migrations must be numbered 1, 2, 3...: found %d where %d belongs", m.Version, i+1)
		}
	}
	return out, nil
}

// The advisory lock that serialises migrations of one store database:
// a fixed class and key, so two runbook processes migrating at once take
// turns and the second finds the work done.
const migrateLockSQL = `SELECT pg_advisory_lock(hashtext('runbook-store'), 1)`

// SchemaVersion is the store's applied schema version (0: none).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM runbook.schema_version`).Scan(&v)
	if isCode(err, "42P01") || isCode(err, "3F000") { // undefined table / schema
		return 0, nil
	}
	if err != nil {
		return 0, s.translate(err, "read the store's schema version", false, "", 0, 0)
	}
	return v, nil
}

// Migrate applies the migrations the store lacks, under an advisory lock,
// each in its own transaction with its row in runbook.schema_version.
// Running it again, or from two processes at once, is safe. A store
// migrated by a newer runbook is refused.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := Migrations()
	if err != nil {
		return err
	}
	latest := ms[len(ms)-1].Version
	have, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if have > latest {
		return fmt.Errorf("store: its schema is version %d, newer than this runbook knows (%d): use a newer runbook", have, latest)
	}
	if have == latest {
		return nil // the common case: no lock, and a read-only role gets here too
	}
	// A connection of its own: the session lock goes with it when it closes,
	// whatever happens in between.
	conn, err := pgx.ConnectConfig(ctx, s.listen.Copy())
	if err != nil {
		return fmt.Errorf("store: connect to migrate: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, migrateLockSQL); err != nil {
		return s.translate(err, "lock the store to migrate it", true, "", 0, 0)
	}
	if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS runbook;
		CREATE TABLE IF NOT EXISTS runbook.schema_version (
			version integer PRIMARY KEY,
			name    text NOT NULL,
			applied timestamptz NOT NULL DEFAULT now())`); err != nil {
		return s.migrateErr(err, 0)
	}
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM runbook.schema_version`).Scan(&have); err != nil {
		return s.migrateErr(err, 0)
	}
	for _, m := range ms {
		if m.Version <= have {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO runbook.schema_version (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return s.migrateErr(err, m.Version)
		}
	}
	return nil
}

func (s *Store) migrateErr(err error, version int) error {
	if isCode(err, codeNoPrivilege) {
		return fmt.Errorf("store: role %s may not create or migrate the store's schema (%v): open the store once as its owner, then grant roles with roles.sql", s.role, err)
	}
	if version == 0 {
		return fmt.Errorf("store: prepare the schema_version table: %w", err)
	}
	return fmt.Errorf("store: apply migration %04d: %w", version, err)
}
