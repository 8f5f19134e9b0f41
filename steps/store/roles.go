package store

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// RolesSQL creates the store's two group roles and their grants:
// runbook_reader (follow) and runbook_writer (drive, approve). It is the
// documented way to set up access; see roles.sql for how to use it.
//
//go:embed roles.sql
var RolesSQL string

// Group roles RolesSQL creates.
const (
	ReaderRole = "runbook_reader"
	WriterRole = "runbook_writer"
)

// InstallRoles runs RolesSQL on conn, which must be connected to the
// store's database as its owner (or a superuser), after the schema exists.
func InstallRoles(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, RolesSQL); err != nil {
		return fmt.Errorf("store: install the reader and writer roles: %w", err)
	}
	return nil
}
