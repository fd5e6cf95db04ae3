"""Prefect flows: orchestration only. Each flow wires tasks from `tasks/` and passes paths and hashes."""
