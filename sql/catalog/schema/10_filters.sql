-- Per-rule removal counts of a recipe's filters over its sources' signals.
-- removed_alone: documents the rule fails on its own; removed_marginal: documents that
-- pass every earlier rule (recipe order) and fail this one.
CREATE TABLE IF NOT EXISTS filter_counts (
    data_hash         VARCHAR,     -- the recipe's data hash (what decides the dataset)
    recipe            VARCHAR,
    step              VARCHAR,     -- language | filters
    rule_order        INTEGER,
    filter            VARCHAR,
    rule              VARCHAR,
    predicate         VARCHAR,
    documents_in      BIGINT,
    removed_alone     BIGINT,
    removed_marginal  BIGINT,
    created_at        TIMESTAMP DEFAULT current_timestamp,
    PRIMARY KEY (data_hash, step, rule_order)
);
