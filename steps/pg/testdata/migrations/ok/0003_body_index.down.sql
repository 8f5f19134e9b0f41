-- runbook:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS notes_body_idx;
