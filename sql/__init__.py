"""winnow's SQL files (package data): every query in a file of its own, loaded by
`tasks.core.sqlfiles.load_sql`. A package so that it ships inside the wheel."""
