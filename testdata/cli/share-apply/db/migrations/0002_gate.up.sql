INSERT INTO applied (version) VALUES (2);
-- The gate: waits while the test holds this advisory lock, so the test
-- can kill the driver in the middle of this migration.
SELECT pg_advisory_xact_lock(731001);
