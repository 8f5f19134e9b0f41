CREATE EXTENSION IF NOT EXISTS pgcrypto;
ALTER TABLE notes ADD COLUMN sealed bytea;
COMMENT ON COLUMN notes.sealed IS 'pgp_sym_encrypt(body, key); a ; in a string does not end the statement';
