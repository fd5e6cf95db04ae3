-- Catalog.table: every row of catalog table or view $table.
SELECT * FROM $table
