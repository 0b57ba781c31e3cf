-- +goose Up
-- Custody events queued in bulk no longer hold back the events of single
-- calls (issue 16). A 100 000-record roster merge queues 100 000
-- admissions in one commit, and the sequencer ordered the queue strictly
-- by event id, 5 000 a pass: a court appearance recorded at another
-- facility a moment later waited behind all twenty passes (p99 575 ms in
-- make bench, target 100 ms).
--
-- Now the queue has two lanes. Events inserted by a statement of more
-- than 100 rows are bulk; the rest (what RecordCustodyEvent and a day's
-- small roster writes insert) are fast. Each pass orders every waiting
-- fast event first, then a short batch of bulk ones, so a fast event waits
-- for at most one short pass. One person's events still reach watchers in
-- the order they committed: a fast event waits while an earlier bulk event
-- of the same record is queued (the record's row lock makes event id order
-- the commit order within a record).
ALTER TABLE custody_event_queue
    ADD COLUMN record_id uuid,
    ADD COLUMN bulk boolean NOT NULL DEFAULT false;
-- The fast lane in order, and a record's bulk events still queued.
CREATE INDEX custody_event_queue_fast ON custody_event_queue (event_id) WHERE NOT bulk;
CREATE INDEX custody_event_queue_bulk ON custody_event_queue (record_id, event_id) WHERE bulk;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION sinergi_custody_events_queue() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    SELECT count(*) INTO n FROM new_events;
    INSERT INTO custody_event_queue (event_id, record_id, bulk) SELECT id, record_id, n > 100 FROM new_events;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION sinergi_custody_events_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO custody_event_queue (event_id) SELECT id FROM new_events;
    RETURN NULL;
END $$;
-- +goose StatementEnd
DROP INDEX custody_event_queue_bulk;
DROP INDEX custody_event_queue_fast;
ALTER TABLE custody_event_queue DROP COLUMN bulk, DROP COLUMN record_id;
