-- Notes, the table the later migrations change.
CREATE TABLE notes (
    id   serial PRIMARY KEY,
    body text NOT NULL
);
