-- Followers show who drives a run, and a fenced driver says who took over:
-- both wake when a lease changes hands. Heartbeats (which set only the
-- heartbeat column) do not notify.

CREATE FUNCTION runbook.lease_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('runbook_leases', NEW.run || ':' || NEW.epoch);
    RETURN NULL;
END
$$;

CREATE TRIGGER lease_changed
    AFTER INSERT OR UPDATE OF holder, epoch, released ON runbook.leases
    FOR EACH ROW EXECUTE FUNCTION runbook.lease_changed();
