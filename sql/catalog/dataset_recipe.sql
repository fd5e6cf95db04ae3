-- The recipe a dataset (key: the first 16 hex digits of its data hash) was curated from.
SELECT recipe_json FROM datasets WHERE starts_with(data_hash, $key) ORDER BY created_at DESC LIMIT 1;
