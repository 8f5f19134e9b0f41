-- How old the holder's heartbeat must be before another driver may take
-- its lease, as the holder declared it when it took the lease (it beats
-- at a fraction of this). A take-over waits for the longer of this and
-- its own limit, so a shorter limit on the taking machine cannot take a
-- lease whose holder is alive. NULL: a driver from before this column.
ALTER TABLE runbook.leases ADD COLUMN stale_after_ms bigint CHECK (stale_after_ms > 0);
