-- Rows of a relation: $source is a table name or a rendered FROM source.
SELECT count(*) FROM $source
