-- The starting candidates: every document of the recipe's sources, each once
-- (doc_id, repeat; text_rewritten is set when line-level dedup rewrites a document).
CREATE OR REPLACE TEMP TABLE $out AS
SELECT doc_id, 1::INTEGER AS "repeat", NULL::VARCHAR AS text_rewritten FROM signals
