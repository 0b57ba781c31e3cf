-- +goose Up
-- Watchers read custody events in the order they committed, and nothing
-- they read waits for transactions that have nothing to do with it (issue
-- 16). Until now they read in (txid, id) order and only up to the oldest
-- transaction still running anywhere in the database: a 100 000-record
-- roster merge at one facility, or a session left idle in a transaction,
-- held back every watcher's events.
--
-- Now an event's transaction queues it (a statement trigger), and one
-- sequencer (the leader of the server processes, store.SequenceCustodyEvents)
-- takes whatever has committed and gives it the next positions in
-- custody_event_order, in passes that commit one after another. So
-- positions become visible in order and densely: a watcher that resumes
-- after position p misses nothing and sees nothing twice, and an event is
-- ordered as soon as its own transaction commits.
CREATE TABLE custody_event_queue (
    event_id bigint PRIMARY KEY
);
-- With each position, what a watcher filters on (its facilities, the
-- records it watches, the types a watch list reports), so that a window
-- of positions is filtered without reading the events themselves: a
-- burst of another facility's events costs a watcher one index range,
-- not one event read each.
CREATE TABLE custody_event_order (
    seq           bigint PRIMARY KEY,
    event_id      bigint NOT NULL UNIQUE,
    facility_code text NOT NULL,
    record_id     uuid NOT NULL,
    type          text NOT NULL
);

-- The events already there, in the order watchers read them so far.
INSERT INTO custody_event_order (seq, event_id, facility_code, record_id, type)
    SELECT row_number() OVER (ORDER BY txid, id), id, facility_code, record_id, type FROM custody_events;

-- +goose StatementBegin
CREATE FUNCTION sinergi_custody_events_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO custody_event_queue (event_id) SELECT id FROM new_events;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER custody_events_queue AFTER INSERT ON custody_events
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION sinergi_custody_events_queue();

-- The order is append-only: the sequencer adds, nobody changes.
CREATE TRIGGER custody_event_order_append_only BEFORE UPDATE OR DELETE ON custody_event_order
    FOR EACH ROW EXECUTE FUNCTION sinergi_custody_events_append_only();
CREATE TRIGGER custody_event_order_no_truncate BEFORE TRUNCATE ON custody_event_order
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_custody_events_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON custody_event_order FROM sinergi_app, PUBLIC;
REVOKE UPDATE, TRUNCATE ON custody_event_queue FROM sinergi_app, PUBLIC;
GRANT SELECT, INSERT ON custody_event_order TO sinergi_app;
GRANT SELECT, INSERT, DELETE ON custody_event_queue TO sinergi_app;

-- The old reading order's index has no reader left.
DROP INDEX custody_events_position;

-- +goose Down
CREATE INDEX custody_events_position ON custody_events (txid, id);
DROP TRIGGER custody_events_queue ON custody_events;
DROP FUNCTION sinergi_custody_events_queue();
DROP TABLE custody_event_order, custody_event_queue;
