-- +goose Up
-- Emergencies no agreement blocks (issue 18): the facility's justification
-- for delivering a report beyond the agreements in force. Recipients it
-- reached so have reason EMERGENCY_OVERRIDE; oversight lists them.
ALTER TABLE reports ADD COLUMN emergency_justification text NOT NULL DEFAULT '';
CREATE INDEX reports_emergency ON reports (submit_time DESC, id DESC) WHERE emergency_justification <> '';
-- What an override recipient's reads look for.
CREATE INDEX report_recipients_override ON report_recipients (institution_code, report_id) WHERE reason = 'EMERGENCY_OVERRIDE';

-- The justification is content: never changed.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION sinergi_report_state_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.id, NEW.facility_code, NEW.idempotency_key, NEW.content_hash, NEW.kind, NEW.scope, NEW.type,
        NEW.severity, NEW.classification, NEW.occur_time, NEW.place, NEW.narrative, NEW.operator_id,
        NEW.submit_time, NEW.routing_misses, NEW.author_code, NEW.observers, NEW.emergency_justification)
       IS DISTINCT FROM
       (OLD.id, OLD.facility_code, OLD.idempotency_key, OLD.content_hash, OLD.kind, OLD.scope, OLD.type,
        OLD.severity, OLD.classification, OLD.occur_time, OLD.place, OLD.narrative, OLD.operator_id,
        OLD.submit_time, OLD.routing_misses, OLD.author_code, OLD.observers, OLD.emergency_justification) THEN
        RAISE EXCEPTION 'a filed report''s content is never changed' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.last_event <= OLD.last_event OR NEW.last_addendum < OLD.last_addendum THEN
        RAISE EXCEPTION 'a report''s state changes only with a new event' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd

-- +goose Down
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
DROP INDEX report_recipients_override;
DROP INDEX reports_emergency;
ALTER TABLE reports DROP COLUMN emergency_justification;
