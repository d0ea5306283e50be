-- Each call has its own random id (call_records.call_id); the SIP Call-ID,
-- which the caller chooses, is only a field, to find a call from a trace.
ALTER TABLE call_records ADD COLUMN sip_call_id TEXT;
CREATE INDEX call_records_sip_call_id ON call_records (sip_call_id);

-- Secrets the store keeps for itself: the key that turns old callers'
-- numbers into keyed hashes (retention), created at the first purge.
CREATE TABLE store_secrets (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
