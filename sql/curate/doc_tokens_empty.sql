-- No token budget: no counts (selection and mixing fall back to characters).
CREATE OR REPLACE VIEW doc_tokens AS SELECT NULL::VARCHAR AS doc_id, NULL::BIGINT AS n_tokens WHERE false
