-- Access control for the shared-run store: two group roles, granted to the
-- people (login roles) who use the store. Run it as the store's owner, in
-- the store's database, after runbook has created the schema once (any
-- runbook command that opens the store does). It is safe to run again.
--
--   runbook_reader  follow runs: read every table but runbook.saved (LISTEN
--                   needs no grant)
--   runbook_writer  drive runs, approve steps and add notes: runbook_reader,
--                   plus writing records, the lease, run states, approvals
--                   and notes, and reading and writing what steps saved for
--                   their undo (runbook.saved: may be secret)
--
-- Then, for example:
--   CREATE ROLE alice LOGIN PASSWORD '...' IN ROLE runbook_reader;
--   GRANT runbook_writer TO bob;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'runbook_reader') THEN
        CREATE ROLE runbook_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'runbook_writer') THEN
        CREATE ROLE runbook_writer NOLOGIN;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO runbook_reader', current_database());
END
$$;
GRANT USAGE ON SCHEMA runbook TO runbook_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA runbook TO runbook_reader;
REVOKE ALL ON runbook.saved FROM runbook_reader;
GRANT runbook_reader TO runbook_writer;
GRANT INSERT, UPDATE ON runbook.runs, runbook.records, runbook.leases, runbook.approvals TO runbook_writer;
GRANT INSERT ON runbook.notes TO runbook_writer;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA runbook TO runbook_writer;
GRANT SELECT, INSERT, DELETE ON runbook.saved TO runbook_writer;
