CREATE TABLE half_done (id int);
INSERT INTO no_such_table VALUES (1);
