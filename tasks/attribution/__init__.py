"""Which component of a recipe mattered: generated ablations, their effects, what each removes."""
