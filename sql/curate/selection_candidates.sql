-- Candidates for selection: the surviving ids with what scorers and the mixer read.
SELECT i.*, d.source, d.domain, d.url, d.text, s.n_chars
FROM $ids i JOIN docs d USING (doc_id) JOIN signals s USING (doc_id)
