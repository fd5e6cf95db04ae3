-- Proxy training runs (flows/train.py). One row per trained model, keyed by the train
-- hash (dataset + tokenizer + train config + code version); a rerun served from the
-- workspace replaces the row with cached = true.
CREATE TABLE IF NOT EXISTS train_runs (
    train_hash        VARCHAR PRIMARY KEY,
    dataset_hash      VARCHAR,
    tokenizer_hash    VARCHAR,
    tokens_key        VARCHAR,
    preset            VARCHAR,
    seed              INTEGER,
    n_params          BIGINT,
    seq_len           INTEGER,
    batch_size        INTEGER,
    steps             INTEGER,
    tokens_budget     BIGINT,
    tokens_trained    BIGINT,
    dataset_tokens    BIGINT,
    epochs            DOUBLE,
    final_loss        DOUBLE,
    device            VARCHAR,
    precision         VARCHAR,
    tokens_per_s      DOUBLE,
    mfu               DOUBLE,
    seconds           DOUBLE,
    resumed_from_step INTEGER,
    per_source_tokens JSON,
    config            JSON,
    model_dir         VARCHAR,
    cached            BOOLEAN,
    finished_at       TIMESTAMP DEFAULT current_timestamp
);

-- Per-step training curves of each run (for the report's loss plots).
CREATE TABLE IF NOT EXISTS train_curves (
    train_hash  VARCHAR,
    step        INTEGER,
    tokens      BIGINT,
    loss        DOUBLE,
    grad_norm   DOUBLE,
    lr          DOUBLE,
    epoch       DOUBLE,
    PRIMARY KEY (train_hash, step)
);
