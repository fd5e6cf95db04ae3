-- One column of rule_fails.sql: does the document fail the rule ($keep: its keep-predicate)?
(NOT $keep) AS $alias
