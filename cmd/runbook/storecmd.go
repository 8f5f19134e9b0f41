package main

import (
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/runbook-dev/runbook/steps/store"
)

// newStoreCmd sets a shared-run store up: its schema, and the two roles
// that are its access control.
func newStoreCmd(c *common, io Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "set up a shared-run store: its schema and its reader and writer roles",
		Long: `store prepares the PostgreSQL database a team shares runs through (--store,
$RUNBOOK_STORE or a profile's store= line). Any command that opens the
store creates and migrates its schema on first use; "store init" does it
at once and says what it found. Access is PostgreSQL's own: the roles
runbook_reader (follow, runs, status) and runbook_writer (drive, approve,
note) are granted to the team's login roles.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var roles bool
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "create or migrate the store's schema (and, with --roles, its two roles)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.cmd = cmd
			if !c.profiled {
				c.profiled = true
				if err := c.applyProfiles(); err != nil {
					return err
				}
			}
			ctx := c.ctx()
			st, err := c.openStore(ctx) // migrates
			if err != nil {
				return err
			}
			defer st.Close()
			v, err := st.SchemaVersion(ctx)
			if err != nil {
				return err
			}
			dsn, _ := c.storeDSN()
			fmt.Fprintf(io.Out, "store %s: schema version %d, opened as role %s\n", safeDSN(dsn), v, st.Role())
			if !roles {
				fmt.Fprintln(io.Out, "roles: run `runbook store init --roles` as the database's owner, or apply `runbook store roles` with psql")
				return nil
			}
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				return err
			}
			defer conn.Close(ctx)
			if err := store.InstallRoles(ctx, conn); err != nil {
				return fmt.Errorf("install the roles (needs the database's owner or a superuser): %w", err)
			}
			fmt.Fprintf(io.Out, "roles %s and %s are set up; grant them to people, e.g.\n  CREATE ROLE alice LOGIN PASSWORD '...' IN ROLE %s;\n  GRANT %s TO bob;\n",
				store.ReaderRole, store.WriterRole, store.WriterRole, store.ReaderRole)
			return nil
		},
	}
	initCmd.Flags().BoolVar(&roles, "roles", false, "also create the runbook_reader and runbook_writer roles and their grants (as the database's owner)")
	rolesCmd := &cobra.Command{
		Use:   "roles",
		Short: "print the SQL that creates the store's reader and writer roles",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprint(io.Out, store.RolesSQL)
			return err
		},
	}
	cmd.AddCommand(initCmd, rolesCmd)
	return cmd
}
