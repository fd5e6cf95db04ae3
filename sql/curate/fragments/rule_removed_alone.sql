-- One column of rule_counts.sql: the documents rule number $index fails on its own.
count_if(NOT $keep) AS a$index
