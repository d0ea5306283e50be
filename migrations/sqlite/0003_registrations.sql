-- SIP registrations of navigators' devices, kept so they survive a restart.
-- Keep in step with ../postgres/0003_registrations.sql. The bindings of one
-- address of record are stored together as JSON text (the registrar's own
-- export format): the store does not interpret SIP.
CREATE TABLE registrations (
    aor         TEXT PRIMARY KEY,               -- the account's username
    bindings    TEXT NOT NULL,                  -- JSON
    expires_ms  INTEGER NOT NULL,               -- when the last binding expires
    updated_ms  INTEGER NOT NULL
);
