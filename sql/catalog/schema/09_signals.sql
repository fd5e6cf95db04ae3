-- Signals runs: one row per `flows.signals` run (a cached rerun records a row too).
CREATE TABLE IF NOT EXISTS signals_runs (
    run_id           VARCHAR PRIMARY KEY,
    name             VARCHAR,
    docs_hash        VARCHAR,
    signals_key      VARCHAR,     -- <docs_hash16>-<SIGNALS_VERSION>: the workspace folder
    signals_version  VARCHAR,
    signals_dir      VARCHAR,
    cached           BOOLEAN,
    shards           INTEGER,
    documents        BIGINT,
    seconds          DOUBLE,
    finished_at      TIMESTAMP DEFAULT current_timestamp
);
