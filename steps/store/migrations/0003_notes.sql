-- Followers' notes: what someone watching the run wants in its journal.
-- The driver LISTENs on runbook_notes (payload "run:id"), reads the notes
-- after the last one it journaled, and journals each once (it records the
-- note's id).

CREATE TABLE runbook.notes (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run    text NOT NULL REFERENCES runbook.runs (id),
    step   text NOT NULL DEFAULT '',
    author text NOT NULL CHECK (author <> ''),
    host   text NOT NULL,
    at     timestamptz NOT NULL DEFAULT now(),
    text   text NOT NULL CHECK (text <> '' AND length(text) <= 4000)
);
CREATE INDEX notes_run ON runbook.notes (run, id);

-- add_note is the one way a note enters the store: insert and notify in
-- one transaction. It returns the note's id.
CREATE FUNCTION runbook.add_note(p_run text, p_step text, p_author text, p_host text, p_text text)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    INSERT INTO runbook.notes (run, step, author, host, text)
    VALUES (p_run, p_step, p_author, p_host, p_text)
    RETURNING id INTO n;
    PERFORM pg_notify('runbook_notes', p_run || ':' || n);
    RETURN n;
END
$$;

-- Stores whose roles were installed before this migration: readers read
-- the notes, writers add them (roles.sql grants the same when run again).
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'runbook_reader') THEN
        GRANT SELECT ON runbook.notes TO runbook_reader;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'runbook_writer') THEN
        GRANT INSERT ON runbook.notes TO runbook_writer;
        GRANT USAGE ON ALL SEQUENCES IN SCHEMA runbook TO runbook_writer;
    END IF;
END
$$;
