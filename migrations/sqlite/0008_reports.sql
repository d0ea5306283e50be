-- Reports (frontdoor report, /reports): what the reports count, kept on the
-- call record as the call goes (so a report over a year reads one row a
-- call, not its events), and the index that finds a period's calls.
-- Keep in step with ../postgres/0008_reports.sql.

-- 1 once the call overflowed to another centre (event 'overflowed').
ALTER TABLE call_records ADD COLUMN overflowed INTEGER NOT NULL DEFAULT 0;
-- A callback's outcome: 'made' (the caller was reached) or 'failed' (the
-- last attempt failed); NULL while none was made or for no callback.
ALTER TABLE call_records ADD COLUMN callback_outcome TEXT;
-- The emergency incident the call arrived during (e.g. 2026-ottawa-flood).
ALTER TABLE call_records ADD COLUMN incident TEXT;
CREATE INDEX call_records_incident ON call_records (incident, arrived_ms);

-- The incident tag emergency mode applies to the calls it covers.
ALTER TABLE emergency_mode ADD COLUMN incident TEXT NOT NULL DEFAULT '';

-- Calls recorded before this migration.
UPDATE call_records SET overflowed = 1
 WHERE call_id IN (SELECT call_id FROM call_events WHERE kind = 'overflowed');
UPDATE call_records SET callback = 1
 WHERE call_id IN (SELECT call_id FROM call_events WHERE kind = 'callback_requested');
UPDATE call_records SET callback_outcome = 'failed'
 WHERE callback = 1
   AND call_id IN (SELECT call_id FROM call_events WHERE kind IN ('callback_failed', 'callback_to_supervisor'));
UPDATE call_records SET callback_outcome = 'made'
 WHERE callback = 1
   AND call_id IN (SELECT call_id FROM call_events WHERE kind = 'connected' AND detail LIKE '%callback=true%');

-- The reports read narrow copies of what they filter on, kept beside what
-- they count, so that a report over a year reads one index rather than
-- joining three tables row by row: when the first log of a call was saved
-- (% tracked, wrap-up), and on each log and need, the call's arrival,
-- region, centre and incident (the store keeps them in step when a
-- navigator corrects the region), and whether the need's log is current.
ALTER TABLE call_records ADD COLUMN logged_ms INTEGER;
ALTER TABLE call_logs ADD COLUMN arrived_ms INTEGER;
ALTER TABLE call_logs ADD COLUMN region TEXT;
ALTER TABLE call_logs ADD COLUMN centre TEXT;
ALTER TABLE call_logs ADD COLUMN incident TEXT;
ALTER TABLE call_log_needs ADD COLUMN arrived_ms INTEGER;
ALTER TABLE call_log_needs ADD COLUMN region TEXT;
ALTER TABLE call_log_needs ADD COLUMN centre TEXT;
ALTER TABLE call_log_needs ADD COLUMN incident TEXT;
ALTER TABLE call_log_needs ADD COLUMN is_current INTEGER NOT NULL DEFAULT 1;

-- Logs and needs saved before this migration (the same statements fill in
-- what `frontdoor store generate` writes: cti/src/reports/mod.rs).
UPDATE call_records SET logged_ms =
    (SELECT MIN(l.saved_ms) FROM call_logs l WHERE l.call_id = call_records.call_id)
 WHERE logged_ms IS NULL;
UPDATE call_logs SET
    arrived_ms = (SELECT r.arrived_ms FROM call_records r WHERE r.call_id = call_logs.call_id),
    region = (SELECT r.region FROM call_records r WHERE r.call_id = call_logs.call_id),
    centre = (SELECT r.centre FROM call_records r WHERE r.call_id = call_logs.call_id),
    incident = (SELECT r.incident FROM call_records r WHERE r.call_id = call_logs.call_id)
 WHERE arrived_ms IS NULL;
UPDATE call_log_needs SET
    arrived_ms = (SELECT l.arrived_ms FROM call_logs l WHERE l.id = call_log_needs.log_id),
    region = (SELECT l.region FROM call_logs l WHERE l.id = call_log_needs.log_id),
    centre = (SELECT l.centre FROM call_logs l WHERE l.id = call_log_needs.log_id),
    incident = (SELECT l.incident FROM call_logs l WHERE l.id = call_log_needs.log_id),
    is_current = (SELECT CASE WHEN l.superseded_ms IS NULL THEN 1 ELSE 0 END
                    FROM call_logs l WHERE l.id = call_log_needs.log_id)
 WHERE arrived_ms IS NULL;

CREATE INDEX call_log_needs_report ON call_log_needs
    (arrived_ms, is_current, code, met, unmet_reason, region, centre, incident);
CREATE INDEX call_logs_report ON call_logs
    (arrived_ms, superseded_ms, inquirer, age_band, gender, area, region, centre, incident);
-- The period's calls with every column the call reports read, so SQLite
-- reads them from this index alone (a call record's row is wide: its IVR
-- path). PostgreSQL scans the table faster than it would such an index:
-- there it is on the arrival alone.
CREATE INDEX call_records_report ON call_records
    (arrived_ms, queued_ms, answered_ms, ended_ms, logged_ms, crisis, centre, region, navigator,
     disposition, callback, callback_outcome, overflowed, incident);
