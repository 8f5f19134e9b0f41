DELETE FROM notes WHERE body = 'seeded';
