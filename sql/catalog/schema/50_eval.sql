-- Evaluations (tasks/evaluate/harness.py). One eval_runs row per model x eval config
-- (eval_key = folder name under evals/), and its scores in long form: one row per
-- task and metric, with task = 'mean' for mean centered accuracy / mean bits per byte.
CREATE TABLE IF NOT EXISTS eval_runs (
    eval_key           VARCHAR PRIMARY KEY,
    model_key          VARCHAR,
    model_dir          VARCHAR,
    results_dir        VARCHAR,
    tasks              VARCHAR[],
    item_limit         INTEGER,
    full_suite         BOOLEAN,
    device             VARCHAR,
    n_items            BIGINT,
    seconds            DOUBLE,
    mean_centered_acc  DOUBLE,
    mean_bpb           DOUBLE,
    lm_eval_version    VARCHAR,
    cached             BOOLEAN,
    finished_at        TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE IF NOT EXISTS eval_results (
    model_key   VARCHAR,
    eval_key    VARCHAR,
    task        VARCHAR,
    metric      VARCHAR,
    value       DOUBLE,
    n_items     INTEGER,
    item_limit  INTEGER,
    created_at  TIMESTAMP DEFAULT current_timestamp,
    PRIMARY KEY (eval_key, task, metric)
);

-- Every item's scores of an evaluation (tasks/evaluate/harness.py:item_scores), for the
-- report's paired bootstrap: metric acc (primary accuracy, 0/1), chance (1/k), prob
-- (probability of the correct answer), bpb (bits per byte; weight = bytes).
CREATE TABLE IF NOT EXISTS eval_items (
    eval_key  VARCHAR,
    task      VARCHAR,
    item      BIGINT,          -- document index in the stored task table
    metric    VARCHAR,
    value     DOUBLE,
    weight    DOUBLE,
    PRIMARY KEY (eval_key, task, item, metric)
);

-- Held-out bits per byte of every evaluation snapshot of the model's training run and of
-- the final model (step = the run's steps), per item (tasks/evaluate/snapshots.py): the
-- checkpoint-to-checkpoint spread, training noise. metric bpb; weight = the item's bytes.
CREATE TABLE IF NOT EXISTS eval_snapshot_items (
    eval_key  VARCHAR,
    step      BIGINT,          -- optimizer step of the snapshot
    task      VARCHAR,
    item      BIGINT,          -- document index in the stored task table
    metric    VARCHAR,
    value     DOUBLE,
    weight    DOUBLE,
    PRIMARY KEY (eval_key, step, task, item, metric)
);
