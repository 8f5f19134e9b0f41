INSERT INTO notes (body) VALUES ('seeded');
