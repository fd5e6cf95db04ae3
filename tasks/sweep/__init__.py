"""Sweeps: a suite's `sweep:` section expanded into arms (design.py), mixture search over
Dirichlet-sampled mixtures with a fitted predictor (mixture_search.py), the cost of
repetition per epoch (repetition.py), paired comparisons of arms from the report's
bootstrap (compare.py), and the sweep report's tables and files (report.py). No Prefect
here: flows/sweep.py orchestrates."""
