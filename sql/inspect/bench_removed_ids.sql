-- bench/exclusions.py: a step's input ids (from the registered Arrow table before_t) and
-- an empty output (the step removed every one of them).
CREATE OR REPLACE TEMP TABLE before_ids AS SELECT * FROM before_t;
CREATE OR REPLACE TEMP TABLE after_ids AS SELECT * FROM before_ids LIMIT 0;
