-- Selection: stored score columns (one row per source x method x config) and, per
-- dataset, what the selection kept and the DSIR KL reduction of the kept set.
CREATE TABLE IF NOT EXISTS selection_scores (
    key           VARCHAR PRIMARY KEY,   -- selection/<key>/: <docs_hash16>-<method>-<config_hash8>
    source        VARCHAR,
    docs_hash     VARCHAR,
    method        VARCHAR,
    model_key     VARCHAR,
    docs          BIGINT,
    seconds       DOUBLE,
    heldout_auc   DOUBLE,                -- the fastText classifier's held-out ROC AUC (else null)
    heldout_accuracy DOUBLE,
    info          JSON,
    finished_at   TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE IF NOT EXISTS selection_runs (
    data_hash          VARCHAR PRIMARY KEY,  -- Recipe.data_hash(): the dataset this selection feeds
    recipe             VARCHAR,
    method             VARCHAR,
    seed               INTEGER,
    n_candidates       BIGINT,
    n_selected         BIGINT,
    tokens_candidates  BIGINT,
    tokens_selected    BIGINT,
    tokens_planned     DOUBLE,               -- after the mixture (repeats, phases)
    kl_reduction       DOUBLE,               -- KL(target||candidates) - KL(target||selected)
    stats              JSON,
    plan               JSON,
    finished_at        TIMESTAMP DEFAULT current_timestamp
);
