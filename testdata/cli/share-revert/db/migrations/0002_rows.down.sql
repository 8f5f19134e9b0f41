DELETE FROM items WHERE id IN (1, 2, 3);
