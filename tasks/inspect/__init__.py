"""Reading curated datasets: find one by arm, recipe or key; diff two arms' datasets."""
