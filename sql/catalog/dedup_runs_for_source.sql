-- Dedup runs that include a source, newest first.
SELECT key, sources, modes, input_docs, output_docs, removed, cached, finished_at
FROM dedup_runs
WHERE list_contains(sources, $source)
ORDER BY finished_at DESC
