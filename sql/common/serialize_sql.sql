-- DuckDB's parse tree of a query (JSON), to check a raw predicate's shape before it runs.
SELECT json_serialize_sql($query::VARCHAR)
