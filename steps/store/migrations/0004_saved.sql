-- What a step's do saved for its undo (the files of the step's save
-- directory on the driver's machine), so a driver that takes the run over
-- can undo it. The local save directory is the source; this is its copy,
-- replaced as a whole for a step after each of its actions, under the
-- lease epoch like records (fenced). Saved files may be secret (a role's
-- old password verifier): only runbook_writer reads them, never
-- runbook_reader.

CREATE TABLE runbook.saved (
    run    text NOT NULL REFERENCES runbook.runs (id),
    step   text NOT NULL,
    name   text NOT NULL CHECK (name <> ''),
    data   bytea NOT NULL,
    epoch  bigint NOT NULL,
    stored timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (run, step, name)
);

-- put_saved replaces the step's saved files with p_names/p_data (empty
-- arrays: the step keeps nothing now), checked against the lease row held
-- FOR SHARE as runbook.append does. RBF01 fenced (DETAIL: lease_json).
CREATE FUNCTION runbook.put_saved(p_run text, p_epoch bigint, p_step text, p_names text[], p_data bytea[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    l runbook.leases;
BEGIN
    SELECT * INTO l FROM runbook.leases WHERE run = p_run FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % has no lease', p_run USING ERRCODE = 'RBF01', DETAIL = '{}';
    END IF;
    IF l.released OR l.epoch <> p_epoch THEN
        RAISE EXCEPTION 'run %: epoch % is not the lease''s', p_run, p_epoch
            USING ERRCODE = 'RBF01', DETAIL = runbook.lease_json(l);
    END IF;
    DELETE FROM runbook.saved WHERE run = p_run AND step = p_step;
    INSERT INTO runbook.saved (run, step, name, data, epoch)
    SELECT p_run, p_step, n, d, p_epoch
    FROM unnest(coalesce(p_names, '{}'), coalesce(p_data, '{}')) AS f (n, d);
END
$$;

-- Stores whose roles were installed before this migration: the writer
-- alone reads and writes saved files (roles.sql does the same when run
-- again; a reader's SELECT ON ALL TABLES must not reach them).
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'runbook_reader') THEN
        REVOKE ALL ON runbook.saved FROM runbook_reader;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'runbook_writer') THEN
        GRANT SELECT, INSERT, DELETE ON runbook.saved TO runbook_writer;
    END IF;
END
$$;
