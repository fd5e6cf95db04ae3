"""Stage logic for winnow: pure functions, importable and testable without Prefect."""
