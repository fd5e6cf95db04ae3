"""winnow's lm-eval task YAMLs and their `utils.py` (package data, loaded by path through
lm-eval's `include_path`). A package so that it ships inside the wheel."""
