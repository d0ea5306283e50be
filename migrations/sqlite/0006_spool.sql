-- How far each engine's call-record spool has been written into the store:
-- the last record applied, committed in the same transaction as the record,
-- so a replay after a crash or an outage applies each record once.
CREATE TABLE spool_positions (
    spool  TEXT PRIMARY KEY,
    seq    BIGINT NOT NULL
);
