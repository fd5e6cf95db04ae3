"""validation stage."""
