-- The community resource directory (frontdoor directory import PATH; see
-- docs/directory.md): organisations and services as imported from an Open
-- Referral HSDS 3.0 dataset, and one search row per service at a location.
-- Keep in step with ../postgres/0009_directory.sql.

-- Every organisation and service ever imported stays (call logs refer to
-- services by id); one a later import no longer lists is retired.
CREATE TABLE dir_organizations (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    doc            TEXT NOT NULL,          -- the record as imported (JSON)
    imported_ms    INTEGER NOT NULL,       -- when it was added or last changed
    retired_ms     INTEGER                 -- when an import stopped listing it
);

CREATE TABLE dir_services (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    name            TEXT NOT NULL,
    organization    TEXT NOT NULL,         -- the organisation's name then
    status          TEXT NOT NULL,
    codes           TEXT NOT NULL DEFAULT '', -- taxonomy codes, space-separated
    doc             TEXT NOT NULL,         -- the service and what hangs off it (JSON)
    imported_ms     INTEGER NOT NULL,
    retired_ms      INTEGER
);

-- What a search reads: one row per service at a location (or per service
-- that has none), rebuilt by every import. `terms` holds the folded,
-- stemmed words (English and French stems), taxonomy codes, languages,
-- eligibility words and the map cell the full-text index is built on.
CREATE TABLE dir_search (
    -- What ranking reads first, narrow, so a search reads little of each
    -- row it considers; what the page shows after; the words last.
    id             INTEGER PRIMARY KEY,
    service_id     TEXT NOT NULL REFERENCES dir_services (id),
    lat            REAL,
    lon            REAL,
    languages      TEXT NOT NULL,          -- ' en fr '
    hours          TEXT NOT NULL,          -- the opening rules, compiled (JSON)
    location_id    TEXT,
    name           TEXT NOT NULL,
    alternate_name TEXT,
    organization   TEXT NOT NULL,
    phone          TEXT,
    address        TEXT,
    postal_area    TEXT,                   -- the postal code's first three characters
    codes          TEXT NOT NULL,          -- ' BD-1800.2000 '
    eligibility    TEXT,
    url            TEXT,
    description    TEXT,
    terms          TEXT NOT NULL
);
CREATE INDEX dir_search_service ON dir_search (service_id);

CREATE VIRTUAL TABLE dir_search_fts USING fts5 (
    terms, content = 'dir_search', content_rowid = 'id', tokenize = 'unicode61'
);
CREATE TRIGGER dir_search_added AFTER INSERT ON dir_search BEGIN
    INSERT INTO dir_search_fts (rowid, terms) VALUES (new.id, new.terms);
END;
CREATE TRIGGER dir_search_removed AFTER DELETE ON dir_search BEGIN
    INSERT INTO dir_search_fts (dir_search_fts, rowid, terms) VALUES ('delete', old.id, old.terms);
END;

-- Where each postal area is (the mean of the directory's locations in
-- it), for searches near a postal area.
CREATE TABLE dir_postal_areas (
    postal_area    TEXT PRIMARY KEY,
    lat            REAL NOT NULL,
    lon            REAL NOT NULL,
    locations      INTEGER NOT NULL
);

-- Each import: what it read and what it changed.
CREATE TABLE dir_imports (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms          INTEGER NOT NULL,
    actor          TEXT NOT NULL,
    source         TEXT NOT NULL,
    services       INTEGER NOT NULL,
    added          INTEGER NOT NULL,
    changed        INTEGER NOT NULL,
    retired        INTEGER NOT NULL
);

-- What navigators searched for during calls, so the unmet-needs report can
-- say what was looked for when no service was found. Purged with the
-- call's other data.
CREATE TABLE dir_searches (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms          INTEGER NOT NULL,
    call_id        TEXT,
    username       TEXT NOT NULL,
    words          TEXT NOT NULL,          -- the words as typed
    code           TEXT,
    results        INTEGER NOT NULL
);
CREATE INDEX dir_searches_call ON dir_searches (call_id);
CREATE INDEX dir_searches_at ON dir_searches (at_ms);
