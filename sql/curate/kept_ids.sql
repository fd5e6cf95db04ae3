-- The documents of {source} that pass every rule ({predicate} is the AND of the rules).
SELECT * FROM {source} WHERE {predicate}
