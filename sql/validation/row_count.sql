-- Rows of the registered input (decides whether a contract samples).
SELECT count(*) AS n FROM docs
