ALTER TABLE installations RESET (fillfactor);
