-- The documents and signals of the sampled exclusions (_sampled_ids: doc_id), with the
-- start of each text ($max_chars characters) and its full length.
SELECT d.doc_id, d.source, d.url, s.domain, s.language,
       left(d.text, $max_chars) AS text, length(d.text) AS text_chars, to_json(s) AS signals
FROM docs d JOIN signals s USING (doc_id)
SEMI JOIN _sampled_ids USING (doc_id)
