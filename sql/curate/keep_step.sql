-- A step's survivors: the candidates $ids whose signals satisfy $predicate.
CREATE OR REPLACE TEMP TABLE $out AS
SELECT i.* FROM $ids i JOIN signals s USING (doc_id) WHERE $predicate
