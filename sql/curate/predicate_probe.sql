-- Parse/bind check of one raw recipe predicate against the (empty) signals table.
SELECT ($predicate) AS keep FROM signals LIMIT 0
