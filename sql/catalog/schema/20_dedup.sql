-- Dedup runs: one row per (inputs, spec) key; a rerun replaces its row. `removed`
-- maps each mode to the documents it removed (lines: documents emptied).
CREATE TABLE IF NOT EXISTS dedup_runs (
    key          VARCHAR PRIMARY KEY,
    sources      VARCHAR[],
    against      VARCHAR[],
    scope        VARCHAR,
    modes        VARCHAR[],
    spec         JSON,
    input_docs   BIGINT,
    output_docs  BIGINT,
    removed      JSON,
    stats        JSON,
    cached       BOOLEAN,
    seconds      DOUBLE,
    dir          VARCHAR,
    finished_at  TIMESTAMP DEFAULT current_timestamp
);
