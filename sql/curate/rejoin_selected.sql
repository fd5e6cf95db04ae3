-- The selection's choice (doc_id, repeat[, phase]) with the columns earlier steps attached.
CREATE OR REPLACE TEMP TABLE $out AS
SELECT c.*, i.* EXCLUDE (doc_id, "repeat")
FROM _chosen c JOIN $ids i USING (doc_id)
