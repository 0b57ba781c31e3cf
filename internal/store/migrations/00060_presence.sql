-- +goose Up
-- National hit / no-hit (issue 17): the hits police units' presence checks
-- make on records outside their reach, the justified requests for the
-- record behind a hit and the holding facility's answers (NCIC hit
-- confirmation), and the notices each institution is told of them.
--
-- The columns name records, officers and cases, never a person's identity;
-- the records they name are personal data all the same: never log them.

-- A hit: one record found for one police unit's check, outside its reach.
-- Its id is what the unit's sealed hit reference carries. Never changed.
CREATE TABLE presence_hits (
    id             uuid PRIMARY KEY,
    requester_code text NOT NULL REFERENCES institutions (code),
    record_id      uuid NOT NULL REFERENCES custody_records (id),
    facility_code  text NOT NULL,
    province_code  text NOT NULL,
    operator_id    text NOT NULL,
    purpose        text NOT NULL,
    case_reference text NOT NULL DEFAULT '',
    hit_time       timestamptz NOT NULL,
    expire_time    timestamptz NOT NULL CHECK (expire_time > hit_time)
);
CREATE INDEX presence_hits_record ON presence_hits (record_id, hit_time DESC);

-- +goose StatementBegin
CREATE FUNCTION sinergi_presence_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'presence hits are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd
CREATE TRIGGER presence_hits_append_only BEFORE UPDATE OR DELETE ON presence_hits
    FOR EACH ROW EXECUTE FUNCTION sinergi_presence_append_only();
CREATE TRIGGER presence_hits_no_truncate BEFORE TRUNCATE ON presence_hits
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_presence_append_only();

-- A request for the record behind a hit: one per hit. It is PENDING until
-- the facility (or, once escalated, its regional office) confirms or
-- denies it; it is escalated at most once; it is answered once; nothing
-- else about it ever changes.
CREATE TABLE hit_requests (
    id              uuid PRIMARY KEY,
    hit_id          uuid NOT NULL UNIQUE REFERENCES presence_hits (id),
    requester_code  text NOT NULL,
    record_id       uuid NOT NULL,
    facility_code   text NOT NULL,
    province_code   text NOT NULL,
    operator_id     text NOT NULL,
    purpose         text NOT NULL,
    case_reference  text NOT NULL,
    reason          text NOT NULL,
    urgency         text NOT NULL CHECK (urgency IN ('URGENT', 'ROUTINE')),
    request_time    timestamptz NOT NULL,
    due_time        timestamptz NOT NULL CHECK (due_time > request_time),
    state           text NOT NULL CHECK (state IN ('PENDING', 'CONFIRMED', 'DENIED')),
    escalate_time   timestamptz,
    escalated_to    text NOT NULL DEFAULT '',
    answer_time     timestamptz,
    answered_by     text NOT NULL DEFAULT '',
    answer_operator text NOT NULL DEFAULT '',
    deny_reason     text NOT NULL DEFAULT '',
    CHECK ((state = 'PENDING') = (answer_time IS NULL)),
    CHECK (state <> 'DENIED' OR deny_reason <> '')
);
CREATE INDEX hit_requests_due ON hit_requests (due_time) WHERE state = 'PENDING' AND escalate_time IS NULL;
CREATE INDEX hit_requests_requester ON hit_requests (requester_code, request_time DESC);
CREATE INDEX hit_requests_facility ON hit_requests (facility_code, request_time DESC);

-- +goose StatementBegin
CREATE FUNCTION sinergi_hit_request_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.state = 'PENDING' AND NEW.state = 'PENDING'
       AND OLD.escalate_time IS NULL AND NEW.escalate_time IS NOT NULL AND NEW.escalated_to <> ''
       AND (to_jsonb(NEW) - 'escalate_time' - 'escalated_to') = (to_jsonb(OLD) - 'escalate_time' - 'escalated_to') THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.state = 'PENDING' AND NEW.state IN ('CONFIRMED', 'DENIED')
       AND (to_jsonb(NEW) - 'state' - 'answer_time' - 'answered_by' - 'answer_operator' - 'deny_reason')
         = (to_jsonb(OLD) - 'state' - 'answer_time' - 'answered_by' - 'answer_operator' - 'deny_reason') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'a hit request is escalated once and answered once, and never otherwise changed or deleted: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd
CREATE TRIGGER hit_requests_guard BEFORE UPDATE OR DELETE ON hit_requests
    FOR EACH ROW EXECUTE FUNCTION sinergi_hit_request_guard();
CREATE TRIGGER hit_requests_no_truncate BEFORE TRUNCATE ON hit_requests
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_hit_request_guard();

-- What each institution is told: one row per notice and audience. A
-- notice is written without its position; one sequencer (the leader of
-- the server processes, store.SequenceHitNotices) gives committed notices
-- the next positions in passes that commit one after another, as custody
-- events are ordered (migration 00010): a watcher that resumes after seq n
-- misses nothing and sees nothing twice, and no transaction serialises
-- the writers of hits.
CREATE TABLE hit_notices (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seq            bigint UNIQUE,
    audience       text NOT NULL,
    kind           text NOT NULL,
    at             timestamptz NOT NULL,
    facility_code  text NOT NULL DEFAULT '',
    record_id      uuid,
    requester_code text NOT NULL,
    operator_id    text NOT NULL DEFAULT '',
    purpose        text NOT NULL DEFAULT '',
    case_reference text NOT NULL DEFAULT '',
    hit_request_id uuid,
    urgency        text NOT NULL DEFAULT '',
    due_time       timestamptz,
    state          text NOT NULL DEFAULT ''
);
CREATE INDEX hit_notices_audience ON hit_notices (audience, seq) WHERE seq IS NOT NULL;
CREATE INDEX hit_notices_unordered ON hit_notices (id) WHERE seq IS NULL;

-- A notice is never changed, but for its seq, given once.
-- +goose StatementBegin
CREATE FUNCTION sinergi_hit_notice_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND NEW.seq IS NOT NULL
       AND (to_jsonb(NEW) - 'seq') = (to_jsonb(OLD) - 'seq') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'hit notices are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd
CREATE TRIGGER hit_notices_append_only BEFORE UPDATE OR DELETE ON hit_notices
    FOR EACH ROW EXECUTE FUNCTION sinergi_hit_notice_immutable();
CREATE TRIGGER hit_notices_no_truncate BEFORE TRUNCATE ON hit_notices
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_hit_notice_immutable();

-- Default privileges (migration 00002) give the application role the new
-- tables; the database holds it to what the application does with them
-- (the triggers above refuse every other change).
REVOKE UPDATE, DELETE, TRUNCATE ON presence_hits FROM sinergi_app, PUBLIC;
REVOKE DELETE, TRUNCATE ON hit_requests, hit_notices FROM sinergi_app, PUBLIC;

-- +goose Down
DROP TABLE hit_notices;
DROP TABLE hit_requests;
DROP TABLE presence_hits;
DROP FUNCTION sinergi_hit_notice_immutable();
DROP FUNCTION sinergi_hit_request_guard();
DROP FUNCTION sinergi_presence_append_only();
