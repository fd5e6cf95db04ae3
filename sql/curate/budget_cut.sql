-- The candidates the greedy budget fill kept (_budget_kept), with their columns.
CREATE OR REPLACE TEMP TABLE $out AS
SELECT i.* FROM $ids i SEMI JOIN _budget_kept k USING (doc_id)
