-- The shared-run store: runs, their journal records, the driver's lease
-- and approvals. Everything lives in the schema "runbook" of a database the
-- team gives to runbook alone (never the database a runbook changes).

CREATE SCHEMA IF NOT EXISTS runbook;

CREATE TABLE runbook.runs (
    id        text PRIMARY KEY,
    runbook   text NOT NULL,
    rehearsal boolean NOT NULL DEFAULT false,
    created   timestamptz NOT NULL DEFAULT now(),
    state     text NOT NULL DEFAULT 'running'
);

-- One row per journal record: the same checksummed line the local journal
-- wrote, as opaque bytes. (run, seq) is unique; epoch is the lease epoch
-- of the driver that wrote it.
CREATE TABLE runbook.records (
    run    text NOT NULL REFERENCES runbook.runs (id),
    seq    bigint NOT NULL CHECK (seq > 0),
    epoch  bigint NOT NULL,
    record bytea NOT NULL,
    stored timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (run, seq)
);

-- The driver's lease. The row outlives a release so the epoch only grows:
-- a driver fenced at epoch N can never write again, even after the lease
-- was released and taken afresh.
CREATE TABLE runbook.leases (
    run       text PRIMARY KEY REFERENCES runbook.runs (id),
    holder    text NOT NULL,
    host      text NOT NULL,
    pid       integer NOT NULL,
    since     timestamptz NOT NULL DEFAULT now(),
    heartbeat timestamptz NOT NULL DEFAULT now(),
    epoch     bigint NOT NULL CHECK (epoch > 0),
    released  boolean NOT NULL DEFAULT false
);

CREATE TABLE runbook.approvals (
    run      text NOT NULL REFERENCES runbook.runs (id),
    step     text NOT NULL,
    approver text NOT NULL,
    host     text NOT NULL,
    at       timestamptz NOT NULL DEFAULT now(),
    reason   text NOT NULL DEFAULT '',
    PRIMARY KEY (run, step, approver)
);

-- lease_json describes a lease for an error's DETAIL, so the client can
-- name who holds the run without reading it again.
CREATE FUNCTION runbook.lease_json(l runbook.leases) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'holder', l.holder, 'host', l.host, 'pid', l.pid,
        'since', l.since, 'heartbeat', l.heartbeat,
        'epoch', l.epoch, 'released', l.released)::text
$$;

-- append is the one way a record enters the store. Everything is decided
-- here, in one transaction, against the lease row held FOR SHARE (a
-- take-over's UPDATE waits for it, and it waits for a take-over): the
-- epoch is checked, a known sequence is compared, the order is kept, and
-- followers are woken. Errors carry their own SQLSTATE (class RB):
--   RBF01 fenced (stale epoch, released or missing lease; DETAIL: lease_json)
--   RBC01 conflict (a different record at this sequence; DETAIL: its epoch)
--   RBG01 gap (not the next sequence; DETAIL: the last stored sequence)
-- It returns true when the record was added, false when it was there.
CREATE FUNCTION runbook.append(p_run text, p_seq bigint, p_epoch bigint, p_record bytea)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    l        runbook.leases;
    old      runbook.records;
    last_seq bigint;
BEGIN
    SELECT * INTO l FROM runbook.leases WHERE run = p_run FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % has no lease', p_run USING ERRCODE = 'RBF01', DETAIL = '{}';
    END IF;
    IF l.released OR l.epoch <> p_epoch THEN
        RAISE EXCEPTION 'run %: epoch % is not the lease''s', p_run, p_epoch
            USING ERRCODE = 'RBF01', DETAIL = runbook.lease_json(l);
    END IF;
    SELECT * INTO old FROM runbook.records WHERE run = p_run AND seq = p_seq;
    IF FOUND THEN
        IF old.record = p_record THEN
            RETURN false;
        END IF;
        RAISE EXCEPTION 'run % record % differs from the stored one', p_run, p_seq
            USING ERRCODE = 'RBC01', DETAIL = old.epoch::text;
    END IF;
    SELECT coalesce(max(seq), 0) INTO last_seq FROM runbook.records WHERE run = p_run;
    IF p_seq <> last_seq + 1 THEN
        RAISE EXCEPTION 'run % record % is not next', p_run, p_seq
            USING ERRCODE = 'RBG01', DETAIL = last_seq::text;
    END IF;
    INSERT INTO runbook.records (run, seq, epoch, record) VALUES (p_run, p_seq, p_epoch, p_record);
    PERFORM pg_notify('runbook_records', p_run || ':' || p_seq);
    RETURN true;
END
$$;

-- approve records an approval, refusing the lease holder (the driver)
-- approving their own run's step. RBS01: self-approval (DETAIL: lease_json).
-- It returns true when the approval is new.
CREATE FUNCTION runbook.approve(p_run text, p_step text, p_approver text, p_host text, p_reason text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    l runbook.leases;
    n integer;
BEGIN
    SELECT * INTO l FROM runbook.leases WHERE run = p_run AND NOT released;
    IF FOUND AND l.holder = p_approver THEN
        RAISE EXCEPTION '% drives run % and cannot approve its own step %', p_approver, p_run, p_step
            USING ERRCODE = 'RBS01', DETAIL = runbook.lease_json(l);
    END IF;
    INSERT INTO runbook.approvals (run, step, approver, host, reason)
    VALUES (p_run, p_step, p_approver, p_host, p_reason)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM pg_notify('runbook_approvals', p_run || ':' || p_step);
    END IF;
    RETURN n > 0;
END
$$;
