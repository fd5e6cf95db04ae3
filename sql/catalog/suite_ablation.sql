-- The `ablate:` design of one suite and its data-side removals (none without `ablate:`).
SELECT design, removals FROM ablations WHERE suite = $suite
