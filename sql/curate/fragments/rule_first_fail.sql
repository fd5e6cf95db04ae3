-- One branch of rule_counts.sql's CASE: $order (1-based) when the document fails $keep.
WHEN NOT $keep THEN $order
