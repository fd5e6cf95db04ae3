"""Sweeps: a suite's `sweep:` section expanded into arms (design.py), mixture search over
Dirichlet-sampled mixtures with a fitted predictor (mixture_search.py), the cost of
repetition per epoch (repetition.py), and paired comparisons of arms from the report's
bootstrap (compare.py). No Prefect here: flows/sweep.py orchestrates."""
