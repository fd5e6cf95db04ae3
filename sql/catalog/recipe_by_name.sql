-- The recipe an arm (any completed run), a recipe name or a dataset key (a prefix of six
-- or more hex digits) was curated from, latest first. The dataset folder may be gone:
-- the export curates the recipe again, over the whole pool.
SELECT d.recipe_json FROM datasets d
WHERE d.recipe = $name
   OR (length($name) >= 6 AND starts_with(d.data_hash, $name))
   OR left(d.data_hash, 16) IN (SELECT dataset_key FROM arm_runs WHERE arm = $name AND status = 'completed')
ORDER BY d.created_at DESC
LIMIT 1;
