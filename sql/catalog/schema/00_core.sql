-- Sources and their ingests. One row per ingest run; a rerun served from cache
-- records a run too (cached = true), so the history of every attempt is kept.
CREATE TABLE IF NOT EXISTS sources (
    name          VARCHAR,
    source_hash   VARCHAR,
    uris          VARCHAR[],
    n_files       INTEGER,
    docs_dir      VARCHAR,
    docs_hash     VARCHAR,
    created_at    TIMESTAMP DEFAULT current_timestamp,
    PRIMARY KEY (name, source_hash)
);

CREATE TABLE IF NOT EXISTS ingest_runs (
    run_id            VARCHAR PRIMARY KEY,
    name              VARCHAR,
    source_hash       VARCHAR,
    cached            BOOLEAN,
    records_read      BIGINT,
    docs_written      BIGINT,
    metadata_written  BIGINT,             -- WAT metadata rows (read = docs + metadata + quarantined)
    records_quarantined BIGINT,
    quarantine_by_reason JSON,
    other_records     JSON,
    bytes_read        BIGINT,
    seconds           DOUBLE,
    started_at        TIMESTAMP,
    finished_at       TIMESTAMP,
    docs_hash         VARCHAR,
    docs_dir          VARCHAR,
    extractor         VARCHAR
);
-- Documents written from a fallback extractor, by reason (tasks.ingest.extract.FALLBACK_REASONS);
-- ALTER for catalogs created before the column existed.
ALTER TABLE ingest_runs ADD COLUMN IF NOT EXISTS fallback_by_reason JSON;

CREATE TABLE IF NOT EXISTS stage_runs (
    stage        VARCHAR,
    key          VARCHAR,
    input_key    VARCHAR,
    cached       BOOLEAN,
    seconds      DOUBLE,
    info         JSON,
    finished_at  TIMESTAMP DEFAULT current_timestamp
);
