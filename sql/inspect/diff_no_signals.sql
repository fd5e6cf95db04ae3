-- No signals left in the workspace for these datasets: domain and language unknown.
CREATE OR REPLACE VIEW signals AS
SELECT NULL::VARCHAR AS doc_id, NULL::VARCHAR AS domain, NULL::VARCHAR AS language WHERE FALSE
