-- The starting candidates: every document of the recipe's sources, each once (columns doc_id, repeat).
CREATE OR REPLACE TEMP TABLE {out} AS SELECT doc_id, 1::INTEGER AS "repeat" FROM signals
