-- SIP registrations of navigators' devices, kept so they survive a restart.
-- Keep in step with ../sqlite/0003_registrations.sql. The bindings of one
-- address of record are stored together as JSON text (the registrar's own
-- export format): the store does not interpret SIP.
CREATE TABLE registrations (
    aor         TEXT PRIMARY KEY,
    bindings    TEXT NOT NULL,
    expires_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL
);
