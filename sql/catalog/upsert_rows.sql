-- Catalog.insert(replace=True): as insert_rows.sql, a row with the same primary key replaced.
INSERT OR REPLACE INTO $table BY NAME SELECT * FROM _rows
