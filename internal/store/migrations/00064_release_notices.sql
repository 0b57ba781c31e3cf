-- +goose Up
-- Release notices ahead of time (issue 17, VINE): the police units of the
-- region a person's NIK was registered in, and those watching the person,
-- are told 30, 7 and 1 days before an expected release. release_notices
-- says which were given, so that each is given once (by whichever server
-- process leads), and again for a new expected date.
CREATE TABLE release_notices (
    record_id     uuid NOT NULL REFERENCES custody_records (id),
    expected_date date NOT NULL,
    threshold     int NOT NULL CHECK (threshold IN (30, 7, 1)),
    notice_time   timestamptz NOT NULL,
    PRIMARY KEY (record_id, expected_date, threshold)
);
CREATE TRIGGER release_notices_append_only BEFORE UPDATE OR DELETE ON release_notices
    FOR EACH ROW EXECUTE FUNCTION sinergi_presence_append_only();
CREATE TRIGGER release_notices_no_truncate BEFORE TRUNCATE ON release_notices
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_presence_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON release_notices FROM sinergi_app, PUBLIC;

-- The people held whose release is near, found without reading the others.
CREATE INDEX custody_records_release_due ON custody_records (expected_release_date)
    WHERE status = 'HELD' AND expected_release_date IS NOT NULL;

-- A release notice travels with the hit notices, to the same streams.
ALTER TABLE hit_notices
    ADD COLUMN expected_release_date date,
    ADD COLUMN days_left int NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE hit_notices DROP COLUMN days_left, DROP COLUMN expected_release_date;
DROP INDEX custody_records_release_due;
DROP TABLE release_notices;
