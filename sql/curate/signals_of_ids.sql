-- The signals of the candidates $ids (a subquery usable as a FROM source).
(SELECT s.* FROM signals s SEMI JOIN $ids USING (doc_id))
