-- Every migration of the test records itself: a row per application.
CREATE TABLE applied (
  version int NOT NULL,
  backend int NOT NULL DEFAULT pg_backend_pid(),
  at timestamptz NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO applied (version) VALUES (1);
