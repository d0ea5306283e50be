-- Reports (frontdoor report, /reports): what the reports count, kept on the
-- call record as the call goes (so a report over a year reads one row a
-- call, not its events), and the index that finds a period's calls.
-- Keep in step with ../sqlite/0008_reports.sql.

-- 1 once the call overflowed to another centre (event 'overflowed').
ALTER TABLE call_records ADD COLUMN overflowed BIGINT NOT NULL DEFAULT 0;
-- A callback's outcome: 'made' (the caller was reached) or 'failed' (the
-- last attempt failed); NULL while none was made or for no callback.
ALTER TABLE call_records ADD COLUMN callback_outcome TEXT;
-- The emergency incident the call arrived during (e.g. 2026-ottawa-flood).
ALTER TABLE call_records ADD COLUMN incident TEXT;
CREATE INDEX call_records_arrived ON call_records (arrived_ms);
CREATE INDEX call_records_incident ON call_records (incident, arrived_ms);

-- The incident tag emergency mode applies to the calls it covers.
ALTER TABLE emergency_mode ADD COLUMN incident TEXT NOT NULL DEFAULT '';

-- Calls recorded before this migration.
UPDATE call_records SET overflowed = 1
 WHERE call_id IN (SELECT call_id FROM call_events WHERE kind = 'overflowed');
UPDATE call_records SET callback_outcome = 'failed'
 WHERE callback = 1
   AND call_id IN (SELECT call_id FROM call_events WHERE kind IN ('callback_failed', 'callback_to_supervisor'));
UPDATE call_records SET callback_outcome = 'made'
 WHERE callback = 1
   AND call_id IN (SELECT call_id FROM call_events WHERE kind = 'connected' AND detail LIKE '%callback=true%');
