-- The operations console (docs/ops.md): every flow version's files are
-- kept, so any earlier version can be activated again (rollback), and every
-- call record names the flow version it ran on.
-- Keep in step with ../sqlite/0010_flow_files.sql.

CREATE TABLE flow_files (
    version  TEXT NOT NULL,                     -- the flow set's hash
    path     TEXT NOT NULL,                     -- relative to the flows folder: 211.yaml, tests/crisis.yaml
    content  TEXT NOT NULL,
    PRIMARY KEY (version, path)
);

ALTER TABLE call_records ADD COLUMN flow_version TEXT;

-- Emergency mode for some regions only (their ids, comma-separated); empty:
-- province-wide.
ALTER TABLE emergency_mode ADD COLUMN regions TEXT NOT NULL DEFAULT '';
