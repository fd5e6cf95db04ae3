-- Every function DuckDB knows, with its kind and stability: the SQL guard's messages say
-- why a recipe predicate may not call one (tasks/signals/sql_guard.py).
SELECT function_name, function_type, stability FROM duckdb_functions()
