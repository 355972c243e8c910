-- The PostgreSQL journal as versioned migrations began: records with their buckets and
-- payloads, the buckets' leases, the workers, the target, each run with its samples,
-- operators' decisions. A journal written before versioning has these tables already (created
-- if missing; columns that journals of earlier versions lack are added).
CREATE TABLE IF NOT EXISTS preventor_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS preventor_records (
    seq BIGSERIAL UNIQUE,
    row_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    operation TEXT NOT NULL,
    key TEXT NOT NULL,
    id TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    hash TEXT NOT NULL,
    state TEXT NOT NULL,
    maybe_sent BOOLEAN NOT NULL DEFAULT false,
    line BIGINT,
    status INTEGER,
    details TEXT,
    payload TEXT,
    epoch BIGINT,
    worker TEXT,
    marked TIMESTAMPTZ,
    created TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated TIMESTAMPTZ NOT NULL DEFAULT now(),
    stage_run BIGINT,
    stage_line BIGINT
);
ALTER TABLE preventor_records ADD COLUMN IF NOT EXISTS stage_run BIGINT;
ALTER TABLE preventor_records ADD COLUMN IF NOT EXISTS stage_line BIGINT;
CREATE SEQUENCE IF NOT EXISTS preventor_stagings;
CREATE INDEX IF NOT EXISTS preventor_records_work ON preventor_records (bucket, state, seq);
CREATE INDEX IF NOT EXISTS preventor_records_state ON preventor_records (state);
CREATE TABLE IF NOT EXISTS preventor_buckets (
    bucket INTEGER PRIMARY KEY,
    owner TEXT,
    epoch BIGINT NOT NULL DEFAULT 0,
    expires TIMESTAMPTZ
);
-- 64 buckets: the FNV-1a of a record's key, modulo 64 (`journal::postgres::BUCKETS`).
INSERT INTO preventor_buckets (bucket) SELECT generate_series(0, 63) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS preventor_workers (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat TIMESTAMPTZ NOT NULL DEFAULT now(),
    ended TIMESTAMPTZ
);
ALTER TABLE preventor_workers ADD COLUMN IF NOT EXISTS rate DOUBLE PRECISION;
ALTER TABLE preventor_workers ADD COLUMN IF NOT EXISTS position DOUBLE PRECISION;
CREATE TABLE IF NOT EXISTS preventor_runs (
    id BIGSERIAL PRIMARY KEY, started DOUBLE PRECISION NOT NULL, ended DOUBLE PRECISION,
    host TEXT, input TEXT, input_bytes BIGINT, input_sha256 TEXT, target TEXT, options TEXT,
    counts TEXT);
CREATE TABLE IF NOT EXISTS preventor_samples (
    run BIGINT NOT NULL, t DOUBLE PRECISION NOT NULL, acknowledged BIGINT, rejected BIGINT,
    ambiguous BIGINT, rate_limited BIGINT, in_flight BIGINT, concurrency_limit BIGINT,
    p50_ms DOUBLE PRECISION, p99_ms DOUBLE PRECISION);
CREATE TABLE IF NOT EXISTS preventor_decisions (
    id BIGSERIAL PRIMARY KEY, row_id TEXT NOT NULL, record_id TEXT NOT NULL,
    decision TEXT NOT NULL, reason TEXT, decided_by TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
    previous_state TEXT NOT NULL);
