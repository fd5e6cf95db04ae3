-- The kept documents with their repeat multiplied by rehydration's copies (_rehydrated).
CREATE OR REPLACE TEMP TABLE $out AS
SELECT i.* REPLACE ((i."repeat" * r.copies)::INTEGER AS "repeat")
FROM $ids i JOIN _rehydrated r USING (doc_id)
