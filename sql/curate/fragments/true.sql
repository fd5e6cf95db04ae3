-- A predicate every document passes (a step condition that is switched off).
TRUE
