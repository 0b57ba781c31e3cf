-- +goose Up
-- Correctable, idempotent custody events (issue 17). A facility's system
-- may give each event a key: a retry with the same key and content is the
-- same event, other content under the key is refused. A wrong event is
-- never changed or removed: a CORRECTION event names it and says why, and
-- the status follows the history without it. An event is corrected once.
ALTER TABLE custody_events
    ADD COLUMN idempotency_key   text,
    ADD COLUMN content_hash      bytea,
    ADD COLUMN corrects_event_id bigint,
    ADD COLUMN correction_reason text NOT NULL DEFAULT '';
CREATE UNIQUE INDEX custody_events_idempotency ON custody_events (facility_code, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX custody_events_correction ON custody_events (corrects_event_id)
    WHERE corrects_event_id IS NOT NULL;

-- +goose Down
DROP INDEX custody_events_correction;
DROP INDEX custody_events_idempotency;
ALTER TABLE custody_events DROP COLUMN correction_reason, DROP COLUMN corrects_event_id, DROP COLUMN content_hash,
    DROP COLUMN idempotency_key;
