-- Datasets curated from a recipe of this name, latest first.
SELECT data_hash, dataset_dir, created_at FROM datasets WHERE recipe = $recipe ORDER BY created_at DESC;
