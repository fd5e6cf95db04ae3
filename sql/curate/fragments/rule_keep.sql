-- One rule as a keep-predicate: NULL (e.g. no language) counts as failing.
coalesce(($predicate), FALSE)
