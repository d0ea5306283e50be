-- frontdoor store, SQLite flavour. Keep in step with ../postgres/0001_schema.sql:
-- same tables, same columns, same constraints. Times are epoch milliseconds
-- (INTEGER), flags are 0/1 integers, lists and maps are JSON text, so both
-- backends answer the same queries the same way.

CREATE TABLE accounts (
    username       TEXT PRIMARY KEY,
    role           TEXT NOT NULL CHECK (role IN ('navigator', 'supervisor', 'ops')),
    centre         TEXT NOT NULL,
    languages      TEXT NOT NULL,               -- comma-separated: "en,fr"
    crisis_trained INTEGER NOT NULL DEFAULT 0,
    password_hash  TEXT NOT NULL,               -- argon2id PHC string
    ha1_md5        TEXT NOT NULL,               -- MD5(username:frontdoor:password), hex
    ha1_sha256     TEXT NOT NULL,               -- SHA-256(username:frontdoor:password), hex
    disabled       INTEGER NOT NULL DEFAULT 0,
    created_ms     INTEGER NOT NULL,
    updated_ms     INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,               -- SHA-256 of the bearer token, hex
    username    TEXT NOT NULL REFERENCES accounts (username),
    created_ms  INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL,
    revoked_ms  INTEGER
);
CREATE INDEX sessions_username ON sessions (username);

CREATE TABLE call_records (
    call_id         TEXT PRIMARY KEY,
    caller          TEXT NOT NULL,
    dialled         TEXT NOT NULL,
    arrived_ms      INTEGER NOT NULL,
    ivr_answered_ms INTEGER,
    queued_ms       INTEGER,
    offered_ms      INTEGER,
    answered_ms     INTEGER,
    ended_ms        INTEGER,
    language        TEXT,
    region          TEXT,
    region_source   TEXT,
    centre          TEXT,
    topic           TEXT,
    crisis          INTEGER NOT NULL DEFAULT 0,
    route           TEXT,
    ivr_path        TEXT NOT NULL DEFAULT '[]', -- JSON array of step names
    navigator       TEXT,
    callback        INTEGER NOT NULL DEFAULT 0,
    disposition     TEXT,
    last_step       TEXT NOT NULL
);
CREATE INDEX call_records_caller ON call_records (caller, arrived_ms);
CREATE INDEX call_records_navigator ON call_records (navigator);

-- Append-only: one row per thing that happened to a call, written as it happens.
CREATE TABLE call_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id  TEXT NOT NULL,
    at_ms    INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    detail   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX call_events_call ON call_events (call_id, id);

CREATE TABLE taxonomy (
    code     TEXT PRIMARY KEY,
    name_en  TEXT NOT NULL,
    name_fr  TEXT NOT NULL
);

CREATE TABLE call_logs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id          TEXT NOT NULL REFERENCES call_records (call_id),
    navigator        TEXT NOT NULL,
    client_id        TEXT NOT NULL,             -- the log_call command id; a repeat is stored once
    saved_ms         INTEGER NOT NULL,
    demographics     TEXT NOT NULL DEFAULT '{}', -- JSON object of coded values
    notes            TEXT NOT NULL DEFAULT '',
    follow_up_due    TEXT,                      -- YYYY-MM-DD
    follow_up_reason TEXT,
    UNIQUE (navigator, client_id)
);
CREATE INDEX call_logs_call ON call_logs (call_id);

CREATE TABLE call_log_needs (
    log_id    INTEGER NOT NULL REFERENCES call_logs (id),
    position  INTEGER NOT NULL,
    code      TEXT NOT NULL REFERENCES taxonomy (code),
    met       INTEGER NOT NULL,
    PRIMARY KEY (log_id, position)
);

CREATE TABLE call_log_referrals (
    log_id    INTEGER NOT NULL REFERENCES call_logs (id),
    position  INTEGER NOT NULL,
    name      TEXT NOT NULL,
    code      TEXT REFERENCES taxonomy (code),
    phone     TEXT,
    PRIMARY KEY (log_id, position)
);

CREATE TABLE flow_versions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    version       TEXT NOT NULL,
    hash          TEXT NOT NULL,
    activated_ms  INTEGER NOT NULL,
    activated_by  TEXT NOT NULL
);

CREATE TABLE emergency_mode (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    active      INTEGER NOT NULL,
    message     TEXT NOT NULL,
    changed_by  TEXT NOT NULL,
    changed_ms  INTEGER NOT NULL
);
INSERT INTO emergency_mode (id, active, message, changed_by, changed_ms) VALUES (1, 0, '', 'system', 0);

CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms    INTEGER NOT NULL,
    actor    TEXT NOT NULL,                     -- username, or '-' when unauthenticated
    action   TEXT NOT NULL,                     -- e.g. 'GET /api/calls/{id}', 'user.add', 'login'
    target   TEXT NOT NULL,
    outcome  TEXT NOT NULL,                     -- 'ok', 'denied', 'unauthenticated', ...
    detail   TEXT NOT NULL DEFAULT '',
    peer     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at_ms);
