-- One row per suite with an `ablate:` section (the latest run): what it compares
-- (tasks.attribution.design.AblationDesign as JSON) and what each component removes from
-- the pool, with the slices of every rule (tasks.attribution.removals.DataSide as JSON;
-- null when it could not be computed).
CREATE TABLE IF NOT EXISTS ablations (
    suite       VARCHAR PRIMARY KEY,
    design      JSON,
    removals    JSON,
    updated_at  TIMESTAMP DEFAULT current_timestamp
);
