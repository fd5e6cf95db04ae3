-- Curated datasets: one row per recipe data hash (a rerun replaces its row).
CREATE TABLE IF NOT EXISTS datasets (
    data_hash        VARCHAR PRIMARY KEY,
    recipe           VARCHAR,
    sources          VARCHAR[],
    dataset_dir      VARCHAR,
    documents        BIGINT,
    characters       BIGINT,
    est_tokens       BIGINT,
    documents_in     BIGINT,
    language_mix     JSON,
    stats            JSON,
    recipe_json      JSON,
    cached           BOOLEAN,
    seconds          DOUBLE,
    created_at       TIMESTAMP DEFAULT current_timestamp
);
