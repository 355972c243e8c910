-- The SQLite journal as versioned migrations began: one row per record, the journal's target
-- and owner, each run with its samples, operators' decisions. A journal written before
-- versioning has these tables already (created if missing: the same statements it was made
-- with); see `journal::schema`.
CREATE TABLE IF NOT EXISTS records (
    row TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    operation TEXT NOT NULL,
    key TEXT NOT NULL,
    id TEXT NOT NULL,
    hash TEXT NOT NULL,
    state TEXT NOT NULL,
    line INTEGER,
    status INTEGER,
    details TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    run INTEGER,
    run_line INTEGER
);
CREATE INDEX IF NOT EXISTS records_state ON records(state);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, started REAL NOT NULL, ended REAL, host TEXT, input TEXT,
    input_bytes INTEGER, input_sha256 TEXT, target TEXT, options TEXT, counts TEXT);
CREATE TABLE IF NOT EXISTS samples (
    run INTEGER NOT NULL, t REAL NOT NULL, acknowledged INTEGER, rejected INTEGER,
    ambiguous INTEGER, rate_limited INTEGER, in_flight INTEGER, concurrency_limit INTEGER,
    p50_ms REAL, p99_ms REAL);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY, row TEXT NOT NULL, record_id TEXT NOT NULL, decision TEXT NOT NULL,
    reason TEXT, decided_by TEXT NOT NULL, at REAL NOT NULL, previous_state TEXT NOT NULL);
