-- One row per (suite, arm, seed) attempt outcome; a rerun replaces the row.
CREATE TABLE IF NOT EXISTS arm_runs (
    suite         VARCHAR,
    arm           VARCHAR,
    seed          INTEGER,
    recipe_hash   VARCHAR,
    status        VARCHAR,          -- completed | failed
    error         VARCHAR,
    dataset_key   VARCHAR,
    model_key     VARCHAR,
    eval_key      VARCHAR,
    curve_path    VARCHAR,          -- the training curve (Parquet: step, tokens, loss, grad_norm, lr)
    recipe        JSON,
    finished_at   TIMESTAMP DEFAULT current_timestamp,
    PRIMARY KEY (suite, arm, seed)
);

-- One row per suite (the latest run's settings): the declared decision metric
-- (tasks.suite.DecisionSpec as JSON) that the report ranks by, and the seeds.
CREATE TABLE IF NOT EXISTS suites (
    suite       VARCHAR PRIMARY KEY,
    decision    JSON,
    seeds       INTEGER[],
    updated_at  TIMESTAMP DEFAULT current_timestamp
);

-- Every number the leaderboard shows, long format: dataset stats (documents, tokens,
-- filter_removed, dedup_removed, kl_reduction), train_loss, bpb/<text>,
-- acc_centered/<task>, and the means.
CREATE TABLE IF NOT EXISTS arm_metrics (
    suite   VARCHAR,
    arm     VARCHAR,
    seed    INTEGER,
    metric  VARCHAR,
    value   DOUBLE,
    PRIMARY KEY (suite, arm, seed, metric)
);

CREATE OR REPLACE VIEW leaderboard AS
SELECT suite, arm, metric,
       avg(value)         AS mean,
       stddev_samp(value) AS std,
       count(*)           AS n_seeds
FROM arm_metrics
JOIN arm_runs USING (suite, arm, seed)
WHERE arm_runs.status = 'completed'
GROUP BY suite, arm, metric;

-- When each arm's flow run started (finished_at: when its row was written); concurrent
-- arms (--max-parallel) show as overlapping [started_at, finished_at] intervals.
-- ALTER for catalogs created before the column existed.
ALTER TABLE arm_runs ADD COLUMN IF NOT EXISTS started_at TIMESTAMP;
-- The arms the suite's definition holds now: runs of arms since removed from it stay in the
-- catalog but leave its report and decision (NULL: every arm recorded under the suite).
ALTER TABLE suites ADD COLUMN IF NOT EXISTS arms VARCHAR[];
