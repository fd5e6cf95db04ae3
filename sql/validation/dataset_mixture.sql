-- The realised mixture: each phase's groups ("" = the whole dataset) with their size
-- counted with repeats, in the contract's unit (`units` per copy: real tokens of the
-- suite tokenizer, else characters).
SELECT phase, "group", sum(units * coalesce("repeat", 1)) AS units
FROM mixture_rows
GROUP BY phase, "group"
ORDER BY phase, "group"
