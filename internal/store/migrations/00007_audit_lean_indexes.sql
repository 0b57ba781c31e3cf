-- +goose Up
-- Every audit record is inserted on a call's path, inside the group
-- commit that the call waits for, so each index on audit_records is paid
-- by every call. Two changes make that insert cheaper without losing a
-- query:
--
-- The primary key becomes (at, id) instead of (id, at). It still makes a
-- record unique and still finds one by (id, at) (the chain's join), and it
-- now also serves the newest-first listing (ORDER BY at DESC, id DESC) and
-- time ranges, which had an index of their own, audit_records_at: one
-- B-tree fewer per record.
--
-- caller_code and subjects compare bytewise (COLLATE "C"). They are
-- identifiers ("polres-metro", "custody/<uuid>"), only ever matched for
-- equality or containment, never sorted for people to read; under the
-- database's default collation every comparison in their B-tree and GIN
-- index went through strcoll.
ALTER TABLE audit_records DROP CONSTRAINT audit_records_pkey;
ALTER TABLE audit_records ADD PRIMARY KEY (at, id);
DROP INDEX audit_records_at;
ALTER TABLE audit_records
    ALTER COLUMN caller_code TYPE text COLLATE "C",
    ALTER COLUMN subjects TYPE text[] COLLATE "C";

-- +goose Down
ALTER TABLE audit_records
    ALTER COLUMN caller_code TYPE text COLLATE "default",
    ALTER COLUMN subjects TYPE text[] COLLATE "default";
CREATE INDEX audit_records_at ON audit_records (at);
ALTER TABLE audit_records DROP CONSTRAINT audit_records_pkey;
ALTER TABLE audit_records ADD PRIMARY KEY (id, at);
