-- +goose Up
-- Security coordination both ways (issue 18).
--
-- Police units warn facilities: a report's author (author_code) is the
-- facility itself or the police unit that warned it; facility_code stays the
-- facility the report is about, so reach, oversight and the audit trail's
-- ownership follow the facility as before. Idempotency keys are the
-- author's own. observers are corrections oversight told of every event
-- besides the recipients (the facility's regional office for a warning).
--
-- An assistance request carries a coordination thread, report_coordination,
-- append-only like the report's history: each post is one event.
ALTER TABLE reports ADD COLUMN author_code text REFERENCES institutions (code);
ALTER TABLE reports ADD COLUMN observers text[] NOT NULL DEFAULT '{}';
-- Existing reports were all filed by their facility. The state trigger
-- refuses an update without a new event: lift it for the backfill alone.
ALTER TABLE reports DISABLE TRIGGER reports_state_only;
UPDATE reports SET author_code = facility_code;
ALTER TABLE reports ENABLE TRIGGER reports_state_only;
ALTER TABLE reports ALTER COLUMN author_code SET NOT NULL;
ALTER TABLE reports DROP CONSTRAINT reports_facility_code_idempotency_key_key;
ALTER TABLE reports ADD CONSTRAINT reports_author_idempotency_key UNIQUE (author_code, idempotency_key);
-- What a police author's reads look for.
CREATE INDEX reports_police_author ON reports (author_code, id) WHERE author_code <> facility_code;

-- A report's content, now with its author and observers, never changes.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION sinergi_report_state_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.id, NEW.facility_code, NEW.idempotency_key, NEW.content_hash, NEW.kind, NEW.scope, NEW.type,
        NEW.severity, NEW.classification, NEW.occur_time, NEW.place, NEW.narrative, NEW.operator_id,
        NEW.submit_time, NEW.routing_misses, NEW.author_code, NEW.observers)
       IS DISTINCT FROM
       (OLD.id, OLD.facility_code, OLD.idempotency_key, OLD.content_hash, OLD.kind, OLD.scope, OLD.type,
        OLD.severity, OLD.classification, OLD.occur_time, OLD.place, OLD.narrative, OLD.operator_id,
        OLD.submit_time, OLD.routing_misses, OLD.author_code, OLD.observers) THEN
        RAISE EXCEPTION 'a filed report''s content is never changed' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.last_event <= OLD.last_event OR NEW.last_addendum < OLD.last_addendum THEN
        RAISE EXCEPTION 'a report''s state changes only with a new event' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd

CREATE TABLE report_coordination (
    report_id         text NOT NULL REFERENCES reports (id),
    number            int NOT NULL,
    kind              text NOT NULL,
    author_code       text NOT NULL REFERENCES institutions (code),
    operator_id       text NOT NULL,
    text              text NOT NULL DEFAULT '',
    -- DISPATCH: what was sent.
    units             text[] NOT NULL DEFAULT '{}',
    personnel_count   int NOT NULL DEFAULT 0,
    estimated_arrival timestamptz,
    commander         text NOT NULL DEFAULT '',
    contact_channel   text NOT NULL DEFAULT '',
    -- AFTER_ACTION: what came of it.
    outcome           text NOT NULL DEFAULT '',
    create_time       timestamptz NOT NULL,
    PRIMARY KEY (report_id, number)
);
CREATE TRIGGER report_coordination_append_only BEFORE UPDATE OR DELETE ON report_coordination
    FOR EACH ROW EXECUTE FUNCTION sinergi_report_append_only();
CREATE TRIGGER report_coordination_no_truncate BEFORE TRUNCATE ON report_coordination
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_report_append_only();

ALTER TABLE report_events ADD COLUMN coordination_number int NOT NULL DEFAULT 0;

GRANT SELECT, INSERT ON report_coordination TO sinergi_app;
REVOKE UPDATE, DELETE, TRUNCATE ON report_coordination FROM sinergi_app, PUBLIC;

-- +goose Down
ALTER TABLE report_events DROP COLUMN coordination_number;
DROP TABLE report_coordination;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION sinergi_report_state_only() RETURNS trigger LANGUAGE plpgsql AS $$
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
DROP INDEX reports_police_author;
ALTER TABLE reports DROP CONSTRAINT reports_author_idempotency_key;
ALTER TABLE reports ADD CONSTRAINT reports_facility_code_idempotency_key_key UNIQUE (facility_code, idempotency_key);
ALTER TABLE reports DROP COLUMN observers;
ALTER TABLE reports DROP COLUMN author_code;
