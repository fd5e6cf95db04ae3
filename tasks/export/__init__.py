"""Export: a recipe's full dataset in the formats production trainers read."""
