-- The navigator's desktop: the page's language per account, drafts of call
-- logs, the full 211 call log (coded demographics, unmet reasons, crisis
-- details, follow-up consent and method), corrections that keep the earlier
-- version, follow-up outcomes, and taxonomy terms that can be retired.
-- Keep in step with ../postgres/0004_desk.sql.

ALTER TABLE accounts ADD COLUMN ui_language TEXT;   -- 'en' | 'fr'; NULL: not chosen yet

-- What a navigator has typed of a call's log and not submitted yet, saved on
-- every change; removed when the log is saved.
CREATE TABLE call_log_drafts (
    navigator   TEXT NOT NULL,
    call_id     TEXT NOT NULL,
    body        TEXT NOT NULL,                  -- JSON, the page's own shape
    updated_ms  INTEGER NOT NULL,
    PRIMARY KEY (navigator, call_id)
);

ALTER TABLE call_logs ADD COLUMN inquirer TEXT;            -- coded, see docs/cti-protocol.md
ALTER TABLE call_logs ADD COLUMN area TEXT;                -- postal area (FSA) or municipality
ALTER TABLE call_logs ADD COLUMN age_band TEXT;
ALTER TABLE call_logs ADD COLUMN gender TEXT;
ALTER TABLE call_logs ADD COLUMN crisis_details TEXT;      -- JSON object, crisis calls only
ALTER TABLE call_logs ADD COLUMN follow_up_consent INTEGER;
ALTER TABLE call_logs ADD COLUMN follow_up_method TEXT;
ALTER TABLE call_logs ADD COLUMN corrects INTEGER;            -- the log this one corrects
ALTER TABLE call_logs ADD COLUMN superseded_ms INTEGER;       -- set when a correction replaces it
CREATE INDEX call_logs_follow_up ON call_logs (follow_up_due);

ALTER TABLE call_log_needs ADD COLUMN unmet_reason TEXT;   -- set when met = 0
ALTER TABLE call_log_referrals ADD COLUMN service_id TEXT; -- a directory service, when chosen from it

-- Each attempt at a follow-up; the latest outcome is its status.
CREATE TABLE follow_up_outcomes (
    log_id     INTEGER NOT NULL REFERENCES call_logs (id),
    at_ms      INTEGER NOT NULL,
    navigator  TEXT NOT NULL,
    outcome    TEXT NOT NULL CHECK (outcome IN ('reached', 'no_answer', 'left_message', 'closed')),
    notes      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX follow_up_outcomes_log ON follow_up_outcomes (log_id, at_ms);

-- Terms a taxonomy import no longer lists stay (old logs point at them) but
-- can no longer be chosen.
ALTER TABLE taxonomy ADD COLUMN retired INTEGER NOT NULL DEFAULT 0;

-- Small settings the store keeps, e.g. where the taxonomy was last imported from.
CREATE TABLE store_settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
