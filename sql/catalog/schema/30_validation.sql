-- Data contracts (tasks/validation/validation.py): one row per contract run and one per expectation.
CREATE TABLE IF NOT EXISTS validation_runs (
    run_id          VARCHAR PRIMARY KEY,
    suite           VARCHAR,       -- documents | signals | dataset | token_shards
    key             VARCHAR,       -- the content hash of what was validated
    success         BOOLEAN,       -- false when an expectation of severity `fail` failed
    n_rows          BIGINT,
    rows_validated  BIGINT,        -- < n_rows when row checks ran on a sample
    n_expectations  INTEGER,
    n_failed        INTEGER,
    n_warned        INTEGER,
    data_docs       VARCHAR,       -- index.html of the Data Docs site
    seconds         DOUBLE,
    finished_at     TIMESTAMP
);

CREATE TABLE IF NOT EXISTS validation_results (
    run_id            VARCHAR,
    suite             VARCHAR,
    key               VARCHAR,
    expectation       VARCHAR,     -- stable name, e.g. documents.doc_id_unique
    expectation_type  VARCHAR,     -- the great-expectations type
    batch             VARCHAR,
    severity          VARCHAR,     -- fail | warn
    success           BOOLEAN,
    unexpected_count  BIGINT,
    element_count     BIGINT,
    observed          VARCHAR,
    sample_ids        VARCHAR[],
    message           VARCHAR,
    PRIMARY KEY (run_id, expectation)
);
