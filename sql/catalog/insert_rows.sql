-- Catalog.insert: the registered _rows into catalog table $table, matched by column name.
INSERT INTO $table BY NAME SELECT * FROM _rows
