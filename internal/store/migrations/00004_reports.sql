-- +goose Up
-- Intelligence reports from facilities to the police (issue 5).
--
-- A report's content (reports' content columns, people, items, attachments)
-- never changes once filed; its life is a sequence of events in
-- report_events, append-only like the audit trail. reports.status and the
-- acknowledgement and escalation times of report_recipients are the current
-- state, changed only in the transaction that appends the event recording
-- the change, and triggers refuse any other change.
--
-- report_events.seq is the watchers' cursor, and it follows commit order:
-- a deferred trigger assigns it while the transaction commits, under a
-- transaction-level advisory lock held until the commit is visible, so a
-- watcher that has seen seq n has seen, or will never see, every seq below
-- n. The lock covers only the server-side end of the commit, never a round
-- trip to the client.
CREATE TABLE reports (
    id              text PRIMARY KEY,
    facility_code   text NOT NULL REFERENCES institutions (code),
    -- Chosen by the facility's system; a retry reuses it.
    idempotency_key text NOT NULL,
    -- SHA-256 of the submission minus its key: a retry must match it.
    content_hash    bytea NOT NULL,
    kind            text NOT NULL,
    -- The agreement scope the report travels under (from kind).
    scope           text NOT NULL,
    type            text NOT NULL,
    severity        text NOT NULL,
    classification  text NOT NULL,
    occur_time      timestamptz NOT NULL,
    place           text NOT NULL,
    narrative       text NOT NULL,
    operator_id     text NOT NULL,
    submit_time     timestamptz NOT NULL,
    -- Units routing considered but no agreement covered, as JSON.
    routing_misses  jsonb NOT NULL DEFAULT '[]',
    status          text NOT NULL,
    outcome         text NOT NULL DEFAULT '',
    -- Numbers of the last event and addendum, taken under the row lock.
    last_event      int NOT NULL DEFAULT 0,
    last_addendum   int NOT NULL DEFAULT 0,
    UNIQUE (facility_code, idempotency_key)
);
CREATE INDEX reports_facility_occur ON reports (facility_code, occur_time DESC, id DESC);
CREATE INDEX reports_occur ON reports (occur_time DESC, id DESC);

CREATE TABLE report_people (
    report_id         text NOT NULL REFERENCES reports (id),
    position          int NOT NULL,
    custody_record_id text NOT NULL DEFAULT '',
    name              text NOT NULL DEFAULT '',
    nik               text NOT NULL DEFAULT '',
    phone             text NOT NULL DEFAULT '',
    role              text NOT NULL,
    PRIMARY KEY (report_id, position)
);

CREATE TABLE report_items (
    report_id   text NOT NULL REFERENCES reports (id),
    position    int NOT NULL,
    substance   text NOT NULL DEFAULT '',
    quantity    numeric,
    unit        text NOT NULL DEFAULT '',
    imei        text NOT NULL DEFAULT '',
    description text NOT NULL DEFAULT '',
    PRIMARY KEY (report_id, position)
);
CREATE INDEX report_items_substance ON report_items (substance) WHERE substance <> '';

CREATE TABLE report_attachments (
    report_id  text NOT NULL REFERENCES reports (id),
    number     int NOT NULL,
    filename   text NOT NULL,
    media_type text NOT NULL,
    size_bytes bigint NOT NULL,
    sha256     bytea NOT NULL,
    content    bytea NOT NULL,
    PRIMARY KEY (report_id, number)
);
-- Photos and videos are compressed already: store them out of line without
-- trying to compress them again.
ALTER TABLE report_attachments ALTER COLUMN content SET STORAGE EXTERNAL;

CREATE TABLE report_recipients (
    report_id        text NOT NULL REFERENCES reports (id),
    institution_code text NOT NULL REFERENCES institutions (code),
    -- Order of arrival: routed units lowest first, then escalations.
    position         int NOT NULL,
    agreement_ids    text[] NOT NULL,
    reason           text NOT NULL,
    escalated_from   text NOT NULL DEFAULT '',
    add_time         timestamptz NOT NULL,
    deadline         timestamptz,
    ack_time         timestamptz,
    ack_operator     text NOT NULL DEFAULT '',
    escalate_time    timestamptz,
    PRIMARY KEY (report_id, institution_code)
);
CREATE INDEX report_recipients_institution ON report_recipients (institution_code, report_id);
-- What the escalation worker looks for: deadlines not yet met nor escalated.
CREATE INDEX report_recipients_due ON report_recipients (deadline)
    WHERE ack_time IS NULL AND escalate_time IS NULL AND deadline IS NOT NULL;

CREATE TABLE report_addenda (
    report_id   text NOT NULL REFERENCES reports (id),
    number      int NOT NULL,
    author_code text NOT NULL,
    operator_id text NOT NULL,
    text        text NOT NULL,
    outcomes    text[] NOT NULL DEFAULT '{}',
    create_time timestamptz NOT NULL,
    PRIMARY KEY (report_id, number)
);

CREATE SEQUENCE report_events_id_seq;
CREATE SEQUENCE report_events_seq;

CREATE TABLE report_events (
    id              bigint PRIMARY KEY DEFAULT nextval('report_events_id_seq'),
    -- Commit order (see above); NULL only inside the writing transaction.
    seq             bigint UNIQUE,
    report_id       text NOT NULL REFERENCES reports (id),
    number          int NOT NULL,
    kind            text NOT NULL,
    at              timestamptz NOT NULL,
    actor_code      text NOT NULL DEFAULT '',
    operator_id     text NOT NULL DEFAULT '',
    status          text NOT NULL,
    outcome         text NOT NULL DEFAULT '',
    recipient_code  text NOT NULL DEFAULT '',
    escalated_from  text NOT NULL DEFAULT '',
    addendum_number int NOT NULL DEFAULT 0,
    -- Who is told of this event: the facility and the recipients as they
    -- stood after it. A watcher resuming later gets the same events a live
    -- watcher got.
    audience        text[] NOT NULL,
    UNIQUE (report_id, number)
);

-- Runs as the schema owner: the application role may not update events.
-- The key is "REP_EVT".
-- +goose StatementBegin
CREATE FUNCTION sinergi_report_event_sequence() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(23157159588353620);
    UPDATE report_events SET seq = nextval('report_events_seq') WHERE id = NEW.id;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE CONSTRAINT TRIGGER report_events_sequence AFTER INSERT ON report_events
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION sinergi_report_event_sequence();

-- An event is never changed, but for its seq, given once at commit.
-- +goose StatementBegin
CREATE FUNCTION sinergi_report_event_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND NEW.seq IS NOT NULL
       AND (to_jsonb(NEW) - 'seq') = (to_jsonb(OLD) - 'seq') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'report history is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd
CREATE TRIGGER report_events_append_only BEFORE UPDATE OR DELETE ON report_events
    FOR EACH ROW EXECUTE FUNCTION sinergi_report_event_immutable();

-- +goose StatementBegin
CREATE FUNCTION sinergi_report_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'report history is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd

CREATE TRIGGER report_addenda_append_only BEFORE UPDATE OR DELETE ON report_addenda
    FOR EACH ROW EXECUTE FUNCTION sinergi_report_append_only();
CREATE TRIGGER report_people_append_only BEFORE UPDATE OR DELETE ON report_people
    FOR EACH ROW EXECUTE FUNCTION sinergi_report_append_only();
CREATE TRIGGER report_items_append_only BEFORE UPDATE OR DELETE ON report_items
    FOR EACH ROW EXECUTE FUNCTION sinergi_report_append_only();
CREATE TRIGGER report_attachments_append_only BEFORE UPDATE OR DELETE ON report_attachments
    FOR EACH ROW EXECUTE FUNCTION sinergi_report_append_only();
CREATE TRIGGER reports_no_delete BEFORE DELETE ON reports
    FOR EACH ROW EXECUTE FUNCTION sinergi_report_append_only();
CREATE TRIGGER report_recipients_no_delete BEFORE DELETE ON report_recipients
    FOR EACH ROW EXECUTE FUNCTION sinergi_report_append_only();
CREATE TRIGGER report_tables_no_truncate BEFORE TRUNCATE ON report_events
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_report_append_only();

-- A report's content never changes; only its state columns move, each
-- together with an event (the event's number must advance with them).
-- +goose StatementBegin
CREATE FUNCTION sinergi_report_state_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.id, NEW.facility_code, NEW.idempotency_key, NEW.content_hash, NEW.kind, NEW.scope, NEW.type,
        NEW.severity, NEW.classification, NEW.occur_time, NEW.place, NEW.narrative, NEW.operator_id,
        NEW.submit_time, NEW.routing_misses)
       IS DISTINCT FROM
       (OLD.id, OLD.facility_code, OLD.idempotency_key, OLD.content_hash, OLD.kind, OLD.scope, OLD.type,
        OLD.severity, OLD.classification, OLD.occur_time, OLD.place, OLD.narrative, OLD.operator_id,
        OLD.submit_time, OLD.routing_misses) THEN
        RAISE EXCEPTION 'a filed report''s content is never changed' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.last_event <= OLD.last_event OR NEW.last_addendum < OLD.last_addendum THEN
        RAISE EXCEPTION 'a report''s state changes only with a new event' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER reports_state_only BEFORE UPDATE ON reports
    FOR EACH ROW EXECUTE FUNCTION sinergi_report_state_only();

-- A recipient is acknowledged once and escalated past once; nothing else of it changes.
-- +goose StatementBegin
CREATE FUNCTION sinergi_report_recipient_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.report_id, NEW.institution_code, NEW.position, NEW.agreement_ids, NEW.reason, NEW.escalated_from, NEW.add_time, NEW.deadline)
       IS DISTINCT FROM
       (OLD.report_id, OLD.institution_code, OLD.position, OLD.agreement_ids, OLD.reason, OLD.escalated_from, OLD.add_time, OLD.deadline)
       OR (OLD.ack_time IS NOT NULL AND (NEW.ack_time, NEW.ack_operator) IS DISTINCT FROM (OLD.ack_time, OLD.ack_operator))
       OR (OLD.escalate_time IS NOT NULL AND NEW.escalate_time IS DISTINCT FROM OLD.escalate_time) THEN
        RAISE EXCEPTION 'a report recipient is acknowledged and escalated once, and nothing else of it changes'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER report_recipients_once BEFORE UPDATE ON report_recipients
    FOR EACH ROW EXECUTE FUNCTION sinergi_report_recipient_once();

-- Default privileges (migration 00002) give the application role the new
-- tables; the history tables are append-only for it as well.
GRANT SELECT, INSERT, UPDATE ON reports, report_recipients TO sinergi_app;
GRANT SELECT, INSERT ON report_people, report_items, report_attachments, report_addenda, report_events TO sinergi_app;
REVOKE UPDATE, DELETE, TRUNCATE ON report_people, report_items, report_attachments, report_addenda, report_events FROM sinergi_app, PUBLIC;
REVOKE DELETE, TRUNCATE ON reports, report_recipients FROM sinergi_app, PUBLIC;
GRANT USAGE, SELECT ON SEQUENCE report_events_id_seq TO sinergi_app;

-- +goose Down
DROP TABLE report_events;
DROP SEQUENCE report_events_seq;
DROP SEQUENCE report_events_id_seq;
DROP TABLE report_addenda;
DROP TABLE report_recipients;
DROP TABLE report_attachments;
DROP TABLE report_items;
DROP TABLE report_people;
DROP TABLE reports;
DROP FUNCTION sinergi_report_event_immutable();
DROP FUNCTION sinergi_report_event_sequence();
DROP FUNCTION sinergi_report_recipient_once();
DROP FUNCTION sinergi_report_state_only();
DROP FUNCTION sinergi_report_append_only();
