-- +goose Up
-- The firearms governance register (issue 19): the weapons and security
-- equipment each facility holds, their ammunition by calibre, the licences
-- the police issue, who holds each weapon, inspections and their findings.
--
-- Every change is an event in firearm_events, append-only like the audit
-- trail and the report history. The rows of the other tables hold the
-- present state; a trigger on each refuses a change of state that does not
-- come with an event about that row in the same transaction, and refuses
-- any change to what never changes (a weapon's identity, a licence's
-- subject, a returned assignment, a resolved finding). Nothing is deleted.
--
-- firearm_events.seq is the watchers' cursor and follows commit order, as
-- report_events.seq does (migration 00004).
CREATE SEQUENCE firearm_events_id_seq;
CREATE SEQUENCE firearm_events_seq;

CREATE TABLE firearm_events (
    id             bigint PRIMARY KEY DEFAULT nextval('firearm_events_id_seq'),
    -- Commit order; NULL only inside the writing transaction.
    seq            bigint UNIQUE,
    facility_code  text NOT NULL REFERENCES institutions (code),
    kind           text NOT NULL,
    at             timestamptz NOT NULL,
    actor_code     text NOT NULL DEFAULT '',
    operator_id    text NOT NULL DEFAULT '',
    weapon_id      text NOT NULL DEFAULT '',
    licence_id     text NOT NULL DEFAULT '',
    assignment_id  text NOT NULL DEFAULT '',
    inspection_id  text NOT NULL DEFAULT '',
    finding_number int NOT NULL DEFAULT 0,
    report_id      text NOT NULL DEFAULT '',
    status         text NOT NULL DEFAULT '',
    calibre        text NOT NULL DEFAULT '',
    rounds         bigint NOT NULL DEFAULT 0,
    stock          bigint NOT NULL DEFAULT 0,
    days_left      int NOT NULL DEFAULT 0,
    licence_kind   text NOT NULL DEFAULT '',
    expire_time    timestamptz,
    note           text NOT NULL DEFAULT '',
    -- Who is told of it: the facility and the police units concerned.
    audience       text[] NOT NULL
);
CREATE INDEX firearm_events_facility ON firearm_events (facility_code, id DESC);
CREATE INDEX firearm_events_weapon ON firearm_events (weapon_id, id DESC);
CREATE INDEX firearm_events_licence ON firearm_events (licence_id, id DESC);
CREATE INDEX firearm_events_finding ON firearm_events (inspection_id, finding_number);

-- Runs as the schema owner: the application role may not update events.
-- The lock key is "FIREARMS".
-- +goose StatementBegin
CREATE FUNCTION sinergi_firearm_event_sequence() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(5064374236425383251);
    UPDATE firearm_events SET seq = nextval('firearm_events_seq') WHERE id = NEW.id;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE CONSTRAINT TRIGGER firearm_events_sequence AFTER INSERT ON firearm_events
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION sinergi_firearm_event_sequence();

-- +goose StatementBegin
CREATE FUNCTION sinergi_firearm_event_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND NEW.seq IS NOT NULL
       AND (to_jsonb(NEW) - 'seq') = (to_jsonb(OLD) - 'seq') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the firearms register''s history is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd
CREATE TRIGGER firearm_events_append_only BEFORE UPDATE OR DELETE ON firearm_events
    FOR EACH ROW EXECUTE FUNCTION sinergi_firearm_event_immutable();

-- +goose StatementBegin
CREATE FUNCTION sinergi_firearm_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the firearms register is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd
CREATE TRIGGER firearm_events_no_truncate BEFORE TRUNCATE ON firearm_events
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_firearm_append_only();

-- Whether the current transaction appended an event about a weapon, a
-- licence, a finding or a facility's ammunition: the guards below let a
-- row's state change only with one.
-- +goose StatementBegin
CREATE FUNCTION sinergi_firearm_weapon_event_in_tx(p_weapon text) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM firearm_events e WHERE e.weapon_id = p_weapon AND e.xmin = pg_current_xact_id()::xid)
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION sinergi_firearm_licence_event_in_tx(p_licence text) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM firearm_events e WHERE e.licence_id = p_licence AND e.xmin = pg_current_xact_id()::xid)
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION sinergi_firearm_finding_event_in_tx(p_inspection text, p_number int) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM firearm_events e WHERE e.inspection_id = p_inspection AND e.finding_number = p_number
        AND e.xmin = pg_current_xact_id()::xid)
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION sinergi_firearm_stock_event_in_tx(p_facility text) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM firearm_events e WHERE e.facility_code = p_facility AND e.calibre <> ''
        AND e.xmin = pg_current_xact_id()::xid)
$$;
-- +goose StatementEnd

CREATE TABLE firearm_weapons (
    id               text PRIMARY KEY,
    facility_code    text NOT NULL REFERENCES institutions (code),
    category         text NOT NULL,
    make             text NOT NULL,
    model            text NOT NULL,
    calibre          text NOT NULL DEFAULT '',
    serial_number    text NOT NULL,
    -- make and serial number as compared for uniqueness (internal/firearms).
    make_key         text NOT NULL,
    serial_key       text NOT NULL,
    -- The calibre as ammunition stocks are keyed.
    calibre_key      text NOT NULL DEFAULT '',
    acquire_time     timestamptz,
    acquire_source   text NOT NULL DEFAULT '',
    acquire_document text NOT NULL DEFAULT '',
    register_time    timestamptz NOT NULL,
    register_operator text NOT NULL,
    -- State.
    armoury          text NOT NULL,
    status           text NOT NULL,
    counterpart_code text NOT NULL DEFAULT '',
    update_time      timestamptz NOT NULL
);
-- Unique per make among the weapons held: a transferred weapon may be
-- registered again by the institution that received it.
CREATE UNIQUE INDEX firearm_weapons_serial ON firearm_weapons (make_key, serial_key) WHERE status <> 'TRANSFERRED';
CREATE INDEX firearm_weapons_facility ON firearm_weapons (facility_code, id DESC);

-- +goose StatementBegin
CREATE FUNCTION sinergi_firearm_weapon_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'weapon %: the register never forgets a weapon', OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.id, NEW.facility_code, NEW.category, NEW.make, NEW.model, NEW.calibre, NEW.serial_number, NEW.make_key,
        NEW.serial_key, NEW.calibre_key, NEW.acquire_time, NEW.acquire_source, NEW.acquire_document, NEW.register_time,
        NEW.register_operator)
       IS DISTINCT FROM
       (OLD.id, OLD.facility_code, OLD.category, OLD.make, OLD.model, OLD.calibre, OLD.serial_number, OLD.make_key,
        OLD.serial_key, OLD.calibre_key, OLD.acquire_time, OLD.acquire_source, OLD.acquire_document, OLD.register_time,
        OLD.register_operator) THEN
        RAISE EXCEPTION 'weapon %: a registered weapon''s identity never changes', OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.status IN ('DESTROYED', 'TRANSFERRED') THEN
        RAISE EXCEPTION 'weapon %: a destroyed or transferred weapon never changes', OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT sinergi_firearm_weapon_event_in_tx(OLD.id) THEN
        RAISE EXCEPTION 'weapon %: its state changes only with an event', OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER firearm_weapons_guard BEFORE UPDATE OR DELETE ON firearm_weapons
    FOR EACH ROW EXECUTE FUNCTION sinergi_firearm_weapon_guard();

CREATE TABLE firearm_ammunition (
    facility_code text NOT NULL REFERENCES institutions (code),
    calibre_key   text NOT NULL,
    -- As first recorded.
    calibre       text NOT NULL,
    rounds        bigint NOT NULL CHECK (rounds >= 0),
    update_time   timestamptz NOT NULL,
    PRIMARY KEY (facility_code, calibre_key)
);

-- +goose StatementBegin
CREATE FUNCTION sinergi_firearm_ammunition_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'ammunition stocks are never deleted' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.facility_code, NEW.calibre_key, NEW.calibre) IS DISTINCT FROM (OLD.facility_code, OLD.calibre_key, OLD.calibre) THEN
        RAISE EXCEPTION 'an ammunition stock''s calibre never changes' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT sinergi_firearm_stock_event_in_tx(OLD.facility_code) THEN
        RAISE EXCEPTION 'an ammunition stock changes only with an event' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER firearm_ammunition_guard BEFORE UPDATE OR DELETE ON firearm_ammunition
    FOR EACH ROW EXECUTE FUNCTION sinergi_firearm_ammunition_guard();

CREATE TABLE firearm_licences (
    id              text PRIMARY KEY,
    facility_code   text NOT NULL REFERENCES institutions (code),
    kind            text NOT NULL CHECK (kind IN ('OWNERSHIP', 'HOLDER')),
    weapon_id       text REFERENCES firearm_weapons (id),
    holder_nip      text NOT NULL DEFAULT '',
    holder_name     text NOT NULL DEFAULT '',
    category        text NOT NULL,
    licensing_code  text NOT NULL REFERENCES institutions (code),
    justification   text NOT NULL DEFAULT '',
    apply_time      timestamptz NOT NULL,
    apply_operator  text NOT NULL,
    -- State: APPLIED, then APPROVED or REFUSED; APPROVED, then REVOKED.
    status          text NOT NULL CHECK (status IN ('APPLIED', 'APPROVED', 'REFUSED', 'REVOKED')),
    number          text NOT NULL DEFAULT '',
    effective_time  timestamptz,
    expire_time     timestamptz,
    conditions      text NOT NULL DEFAULT '',
    reason          text NOT NULL DEFAULT '',
    decide_time     timestamptz,
    decide_operator text NOT NULL DEFAULT '',
    revoke_time     timestamptz,
    revoke_operator text NOT NULL DEFAULT '',
    renewals        int NOT NULL DEFAULT 0,
    -- The expiry warning last given for this expire_time (days: 90, 30, 7,
    -- 0 for the expiry itself), and when the next one is due.
    warned_days     int,
    next_warn_time  timestamptz,
    CHECK ((kind = 'OWNERSHIP') = (weapon_id IS NOT NULL)),
    CHECK (kind = 'OWNERSHIP' OR holder_nip <> ''),
    CHECK (status NOT IN ('APPROVED', 'REVOKED') OR (effective_time IS NOT NULL AND expire_time > effective_time AND number <> ''))
);
CREATE INDEX firearm_licences_facility ON firearm_licences (facility_code, id DESC);
CREATE INDEX firearm_licences_weapon ON firearm_licences (weapon_id, id DESC) WHERE weapon_id IS NOT NULL;
CREATE INDEX firearm_licences_holder ON firearm_licences (facility_code, holder_nip, category) WHERE kind = 'HOLDER';
CREATE INDEX firearm_licences_warn ON firearm_licences (next_warn_time) WHERE next_warn_time IS NOT NULL AND status = 'APPROVED';
-- One pending application per weapon, and per officer and category.
CREATE UNIQUE INDEX firearm_licences_pending_weapon ON firearm_licences (weapon_id) WHERE status = 'APPLIED';
CREATE UNIQUE INDEX firearm_licences_pending_holder ON firearm_licences (facility_code, holder_nip, category)
    WHERE status = 'APPLIED' AND kind = 'HOLDER';
CREATE UNIQUE INDEX firearm_licences_number ON firearm_licences (licensing_code, number) WHERE number <> '';

-- +goose StatementBegin
CREATE FUNCTION sinergi_firearm_licence_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'licence %: licences are never deleted', OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.id, NEW.facility_code, NEW.kind, NEW.weapon_id, NEW.holder_nip, NEW.holder_name, NEW.category,
        NEW.licensing_code, NEW.justification, NEW.apply_time, NEW.apply_operator)
       IS DISTINCT FROM
       (OLD.id, OLD.facility_code, OLD.kind, OLD.weapon_id, OLD.holder_nip, OLD.holder_name, OLD.category,
        OLD.licensing_code, OLD.justification, OLD.apply_time, OLD.apply_operator) THEN
        RAISE EXCEPTION 'licence %: what a licence is for never changes', OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.status IN ('REFUSED', 'REVOKED')
       OR (OLD.status = 'APPLIED' AND NEW.status NOT IN ('APPLIED', 'APPROVED', 'REFUSED'))
       OR (OLD.status = 'APPROVED' AND NEW.status NOT IN ('APPROVED', 'REVOKED')) THEN
        RAISE EXCEPTION 'licence %: % cannot become %', OLD.id, OLD.status, NEW.status USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT sinergi_firearm_licence_event_in_tx(OLD.id) THEN
        RAISE EXCEPTION 'licence %: its state changes only with an event', OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER firearm_licences_guard BEFORE UPDATE OR DELETE ON firearm_licences
    FOR EACH ROW EXECUTE FUNCTION sinergi_firearm_licence_guard();

CREATE TABLE firearm_assignments (
    id                   text PRIMARY KEY,
    weapon_id            text NOT NULL REFERENCES firearm_weapons (id),
    facility_code        text NOT NULL REFERENCES institutions (code),
    holder_nip           text NOT NULL,
    holder_name          text NOT NULL,
    holder_licence_id    text NOT NULL REFERENCES firearm_licences (id),
    ownership_licence_id text NOT NULL REFERENCES firearm_licences (id),
    duty                 text NOT NULL,
    calibre              text NOT NULL DEFAULT '',
    rounds_issued        int NOT NULL CHECK (rounds_issued >= 0),
    issue_time           timestamptz NOT NULL,
    issue_operator       text NOT NULL,
    rounds_discharged    int NOT NULL DEFAULT 0 CHECK (rounds_discharged >= 0),
    return_time          timestamptz,
    return_operator      text NOT NULL DEFAULT '',
    rounds_returned      int NOT NULL DEFAULT 0 CHECK (rounds_returned >= 0),
    return_note          text NOT NULL DEFAULT '',
    CHECK (rounds_returned + rounds_discharged <= rounds_issued)
);
-- A weapon is with one officer at most: its current holder.
CREATE UNIQUE INDEX firearm_assignments_open ON firearm_assignments (weapon_id) WHERE return_time IS NULL;
CREATE INDEX firearm_assignments_weapon ON firearm_assignments (weapon_id, id DESC);
CREATE INDEX firearm_assignments_facility ON firearm_assignments (facility_code, id DESC);

-- +goose StatementBegin
CREATE FUNCTION sinergi_firearm_assignment_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'assignment %: assignments are never deleted', OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.return_time IS NOT NULL
       OR (NEW.id, NEW.weapon_id, NEW.facility_code, NEW.holder_nip, NEW.holder_name, NEW.holder_licence_id,
           NEW.ownership_licence_id, NEW.duty, NEW.calibre, NEW.rounds_issued, NEW.issue_time, NEW.issue_operator)
          IS DISTINCT FROM
          (OLD.id, OLD.weapon_id, OLD.facility_code, OLD.holder_nip, OLD.holder_name, OLD.holder_licence_id,
           OLD.ownership_licence_id, OLD.duty, OLD.calibre, OLD.rounds_issued, OLD.issue_time, OLD.issue_operator)
       OR NEW.rounds_discharged < OLD.rounds_discharged THEN
        RAISE EXCEPTION 'assignment %: an issue is recorded once, and its return once', OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT sinergi_firearm_weapon_event_in_tx(OLD.weapon_id) THEN
        RAISE EXCEPTION 'assignment %: it changes only with an event', OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER firearm_assignments_guard BEFORE UPDATE OR DELETE ON firearm_assignments
    FOR EACH ROW EXECUTE FUNCTION sinergi_firearm_assignment_guard();

CREATE TABLE firearm_inspections (
    id             text PRIMARY KEY,
    facility_code  text NOT NULL REFERENCES institutions (code),
    inspector_code text NOT NULL REFERENCES institutions (code),
    inspect_time   timestamptz NOT NULL,
    inspector_ids  text[] NOT NULL,
    note           text NOT NULL DEFAULT '',
    operator_id    text NOT NULL,
    record_time    timestamptz NOT NULL
);
CREATE INDEX firearm_inspections_facility ON firearm_inspections (facility_code, id DESC);

CREATE TABLE firearm_inspection_checks (
    inspection_id text NOT NULL REFERENCES firearm_inspections (id),
    position      int NOT NULL,
    weapon_id     text NOT NULL REFERENCES firearm_weapons (id),
    result        text NOT NULL,
    condition     text NOT NULL DEFAULT '',
    note          text NOT NULL DEFAULT '',
    PRIMARY KEY (inspection_id, position),
    UNIQUE (inspection_id, weapon_id)
);

CREATE TABLE firearm_findings (
    inspection_id    text NOT NULL REFERENCES firearm_inspections (id),
    number           int NOT NULL,
    weapon_id        text NOT NULL DEFAULT '',
    kind             text NOT NULL,
    description      text NOT NULL,
    due_time         timestamptz NOT NULL,
    status           text NOT NULL CHECK (status IN ('OPEN', 'RESOLVED')),
    resolution       text NOT NULL DEFAULT '',
    resolve_time     timestamptz,
    resolve_operator text NOT NULL DEFAULT '',
    PRIMARY KEY (inspection_id, number)
);
CREATE INDEX firearm_findings_open ON firearm_findings (inspection_id) WHERE status = 'OPEN';

-- +goose StatementBegin
CREATE FUNCTION sinergi_firearm_finding_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'findings are never deleted' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.status = 'RESOLVED'
       OR (NEW.inspection_id, NEW.number, NEW.weapon_id, NEW.kind, NEW.description, NEW.due_time)
          IS DISTINCT FROM (OLD.inspection_id, OLD.number, OLD.weapon_id, OLD.kind, OLD.description, OLD.due_time) THEN
        RAISE EXCEPTION 'finding %/%: a finding is resolved once, and nothing else of it changes', OLD.inspection_id, OLD.number
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT sinergi_firearm_finding_event_in_tx(OLD.inspection_id, OLD.number) THEN
        RAISE EXCEPTION 'finding %/%: it changes only with an event', OLD.inspection_id, OLD.number
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER firearm_findings_guard BEFORE UPDATE OR DELETE ON firearm_findings
    FOR EACH ROW EXECUTE FUNCTION sinergi_firearm_finding_guard();
CREATE TRIGGER firearm_inspections_append_only BEFORE UPDATE OR DELETE ON firearm_inspections
    FOR EACH ROW EXECUTE FUNCTION sinergi_firearm_append_only();
CREATE TRIGGER firearm_inspection_checks_append_only BEFORE UPDATE OR DELETE ON firearm_inspection_checks
    FOR EACH ROW EXECUTE FUNCTION sinergi_firearm_append_only();
CREATE TRIGGER firearm_tables_no_truncate BEFORE TRUNCATE ON firearm_weapons
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_firearm_append_only();
CREATE TRIGGER firearm_licences_no_truncate BEFORE TRUNCATE ON firearm_licences
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_firearm_append_only();

-- A weapon's identity is attached to the firearms reports filed about it
-- (ReportWeaponItem), as it stood when the report was filed.
ALTER TABLE report_items ADD COLUMN weapon jsonb;

-- Default privileges (migration 00002) give the application role the new
-- tables; the history and the inspections are append-only for it as well,
-- and nothing of the register is deleted.
REVOKE UPDATE, DELETE, TRUNCATE ON firearm_events, firearm_inspections, firearm_inspection_checks FROM sinergi_app, PUBLIC;
REVOKE DELETE, TRUNCATE ON firearm_weapons, firearm_ammunition, firearm_licences, firearm_assignments, firearm_findings
    FROM sinergi_app, PUBLIC;
REVOKE ALL ON FUNCTION sinergi_firearm_event_sequence() FROM PUBLIC;

-- +goose Down
ALTER TABLE report_items DROP COLUMN weapon;
DROP TABLE firearm_findings;
DROP TABLE firearm_inspection_checks;
DROP TABLE firearm_inspections;
DROP TABLE firearm_assignments;
DROP TABLE firearm_licences;
DROP TABLE firearm_ammunition;
DROP TABLE firearm_weapons;
DROP TABLE firearm_events;
DROP SEQUENCE firearm_events_seq;
DROP SEQUENCE firearm_events_id_seq;
DROP FUNCTION sinergi_firearm_weapon_event_in_tx(text);
DROP FUNCTION sinergi_firearm_licence_event_in_tx(text);
DROP FUNCTION sinergi_firearm_finding_event_in_tx(text, int);
DROP FUNCTION sinergi_firearm_stock_event_in_tx(text);
DROP FUNCTION sinergi_firearm_finding_guard();
DROP FUNCTION sinergi_firearm_assignment_guard();
DROP FUNCTION sinergi_firearm_licence_guard();
DROP FUNCTION sinergi_firearm_ammunition_guard();
DROP FUNCTION sinergi_firearm_weapon_guard();
DROP FUNCTION sinergi_firearm_append_only();
DROP FUNCTION sinergi_firearm_event_immutable();
DROP FUNCTION sinergi_firearm_event_sequence();
