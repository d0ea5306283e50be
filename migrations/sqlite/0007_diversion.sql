-- Where a call was diverted from, as the carrier said (Diversion or
-- History-Info): usually the number the caller first dialled.
ALTER TABLE call_records ADD COLUMN diverted_from TEXT;
