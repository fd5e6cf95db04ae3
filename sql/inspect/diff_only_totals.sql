-- Documents and tokens of $table (one side's only-in documents).
SELECT count(*) AS documents, coalesce(sum(tokens), 0) AS tokens FROM $table
