-- +goose Up
-- Visitor and officer screening (issue 20): police units' screening lists,
-- the referrals of a match to the owning unit, the facilities' visit
-- registers, and the ministry's high-risk designations.
--
-- Every column naming a person (NIK, names, birth dates) is personal data,
-- of people who are mostly not inmates: never log it.

-- A police unit's screening list. An entry is its owner's alone; it
-- matches by NIK, or by birth date and a name alike (search_names: the
-- lower-cased full name and aliases, as custody_records.search_names),
-- until it expires or its owner removes it. Its content never changes.
CREATE TABLE screening_entries (
    id              uuid PRIMARY KEY,
    owner_code      text NOT NULL REFERENCES institutions (code),
    category        text NOT NULL,
    nik             text,
    full_name       text NOT NULL DEFAULT '',
    aliases         text[] NOT NULL DEFAULT '{}',
    search_names    text NOT NULL DEFAULT '',
    birth_date      date,
    reason          text NOT NULL,
    instruction     text NOT NULL,
    expire_time     timestamptz NOT NULL,
    create_time     timestamptz NOT NULL,
    operator_id     text NOT NULL,
    purpose         text NOT NULL,
    case_reference  text NOT NULL DEFAULT '',
    remove_time     timestamptz,
    remove_operator text NOT NULL DEFAULT '',
    CHECK (nik IS NOT NULL OR (full_name <> '' AND birth_date IS NOT NULL)),
    CHECK (birth_date IS NULL OR full_name <> '')
);
-- What a screening looks up: an exact NIK, and the entries of one birth
-- date (a few dozen among a million), whose names are then compared. Only
-- entries not removed are indexed; expiry is the second column, so expired
-- entries are passed over inside the index.
CREATE INDEX screening_entries_nik ON screening_entries (nik, expire_time)
    WHERE nik IS NOT NULL AND remove_time IS NULL;
CREATE INDEX screening_entries_birth ON screening_entries (birth_date, expire_time)
    WHERE birth_date IS NOT NULL AND remove_time IS NULL;
CREATE INDEX screening_entries_owner ON screening_entries (owner_code, create_time DESC, id DESC);

-- +goose StatementBegin
CREATE FUNCTION sinergi_screening_entry_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND (to_jsonb(NEW) - 'remove_time' - 'remove_operator') = (to_jsonb(OLD) - 'remove_time' - 'remove_operator')
       AND OLD.remove_time IS NULL AND NEW.remove_time IS NOT NULL THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'a screening entry is removed once and never otherwise changed or deleted: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd
CREATE TRIGGER screening_entries_guard BEFORE UPDATE OR DELETE ON screening_entries
    FOR EACH ROW EXECUTE FUNCTION sinergi_screening_entry_guard();
CREATE TRIGGER screening_entries_no_truncate BEFORE TRUNCATE ON screening_entries
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_screening_entry_guard();

-- A referral tells an entry's owner that the person was screened. It is
-- append-only. seq is the owner's watch cursor and follows commit order,
-- as report_events.seq does (migration 00004): a deferred trigger gives it
-- while the transaction commits, under a transaction-level advisory lock,
-- so a watcher that has seen seq n has seen, or will never see, every seq
-- below n.
CREATE SEQUENCE screening_referrals_seq;
CREATE TABLE screening_referrals (
    id               uuid PRIMARY KEY,
    seq              bigint UNIQUE,
    screening_id     uuid NOT NULL,
    entry_id         uuid NOT NULL REFERENCES screening_entries (id),
    owner_code       text NOT NULL,
    facility_code    text NOT NULL,
    role             text NOT NULL,
    match            text NOT NULL,
    instruction      text NOT NULL,
    nik              text,
    full_name        text NOT NULL,
    birth_date       date NOT NULL,
    relationship     text NOT NULL DEFAULT '',
    inmate_record_id uuid,
    officer_id       text NOT NULL DEFAULT '',
    visit_time       timestamptz NOT NULL,
    screen_time      timestamptz NOT NULL
);
CREATE INDEX screening_referrals_owner ON screening_referrals (owner_code, seq);
CREATE INDEX screening_referrals_entry ON screening_referrals (entry_id, seq);

-- Runs as the schema owner: the application role may not update referrals.
-- The key is "SCR_REF".
-- +goose StatementBegin
CREATE FUNCTION sinergi_screening_referral_sequence() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(23436444132590918);
    UPDATE screening_referrals SET seq = nextval('screening_referrals_seq') WHERE id = NEW.id;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE CONSTRAINT TRIGGER screening_referrals_sequence AFTER INSERT ON screening_referrals
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION sinergi_screening_referral_sequence();
REVOKE ALL ON FUNCTION sinergi_screening_referral_sequence() FROM PUBLIC;

-- A referral is never changed, but for its seq, given once at commit.
-- +goose StatementBegin
CREATE FUNCTION sinergi_screening_referral_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND NEW.seq IS NOT NULL
       AND (to_jsonb(NEW) - 'seq') = (to_jsonb(OLD) - 'seq') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'screening referrals are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd
CREATE TRIGGER screening_referrals_append_only BEFORE UPDATE OR DELETE ON screening_referrals
    FOR EACH ROW EXECUTE FUNCTION sinergi_screening_referral_immutable();
CREATE TRIGGER screening_referrals_no_truncate BEFORE TRUNCATE ON screening_referrals
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_screening_referral_immutable();

-- A facility's visit register. A visit is written once; only its end
-- (time_out, by whom) is added, once. A screening registers one visit.
CREATE TABLE visits (
    id                    uuid PRIMARY KEY,
    facility_code         text NOT NULL REFERENCES institutions (code),
    inmate_record_id      uuid NOT NULL REFERENCES custody_records (id),
    visitor_nik           text,
    visitor_name          text NOT NULL,
    visitor_search_names  text NOT NULL,
    visitor_birth_date    date NOT NULL,
    relationship          text NOT NULL,
    time_in               timestamptz NOT NULL,
    time_out              timestamptz,
    items_deposited       text[] NOT NULL DEFAULT '{}',
    outcome               text NOT NULL,
    screening_id          uuid UNIQUE,
    screening_result      text NOT NULL DEFAULT '',
    screening_instruction text NOT NULL DEFAULT '',
    operator_id           text NOT NULL,
    end_operator          text NOT NULL DEFAULT '',
    create_time           timestamptz NOT NULL,
    CHECK (time_out IS NULL OR time_out >= time_in),
    CHECK (time_out IS NULL OR outcome <> 'REFUSED')
);
CREATE INDEX visits_facility ON visits (facility_code, time_in DESC, id DESC);
CREATE INDEX visits_inmate ON visits (inmate_record_id, time_in DESC, id DESC);
CREATE INDEX visits_nik ON visits (visitor_nik, time_in DESC, id DESC) WHERE visitor_nik IS NOT NULL;
CREATE INDEX visits_birth ON visits (visitor_birth_date, time_in DESC, id DESC);

-- +goose StatementBegin
CREATE FUNCTION sinergi_visit_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND (to_jsonb(NEW) - 'time_out' - 'end_operator') = (to_jsonb(OLD) - 'time_out' - 'end_operator')
       AND OLD.time_out IS NULL AND NEW.time_out IS NOT NULL THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'a visit is ended once and never otherwise changed or deleted: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd
CREATE TRIGGER visits_guard BEFORE UPDATE OR DELETE ON visits
    FOR EACH ROW EXECUTE FUNCTION sinergi_visit_guard();
CREATE TRIGGER visits_no_truncate BEFORE TRUNCATE ON visits
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_visit_guard();

-- The ministry's designations of facilities prone to narcotics trafficking
-- (rawan narkoba). One in force per facility; lifting keeps the row.
CREATE TABLE facility_designations (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    facility_code  text NOT NULL REFERENCES institutions (code),
    reason         text NOT NULL,
    designate_time timestamptz NOT NULL,
    operator_id    text NOT NULL,
    lift_time      timestamptz,
    lift_operator  text NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX facility_designations_active ON facility_designations (facility_code) WHERE lift_time IS NULL;

-- +goose StatementBegin
CREATE FUNCTION sinergi_designation_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND (to_jsonb(NEW) - 'lift_time' - 'lift_operator') = (to_jsonb(OLD) - 'lift_time' - 'lift_operator')
       AND OLD.lift_time IS NULL AND NEW.lift_time IS NOT NULL THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'a designation is lifted once and never otherwise changed or deleted: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd
CREATE TRIGGER facility_designations_guard BEFORE UPDATE OR DELETE ON facility_designations
    FOR EACH ROW EXECUTE FUNCTION sinergi_designation_guard();
CREATE TRIGGER facility_designations_no_truncate BEFORE TRUNCATE ON facility_designations
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_designation_guard();

-- Default privileges (migration 00002) give the application role the new
-- tables; the database holds it to what the application does with them.
REVOKE UPDATE, DELETE, TRUNCATE ON screening_referrals FROM sinergi_app, PUBLIC;
REVOKE DELETE, TRUNCATE ON screening_entries, visits, facility_designations FROM sinergi_app, PUBLIC;

-- +goose Down
DROP TABLE facility_designations;
DROP TABLE visits;
DROP TABLE screening_referrals;
DROP SEQUENCE screening_referrals_seq;
DROP TABLE screening_entries;
DROP FUNCTION sinergi_designation_guard();
DROP FUNCTION sinergi_visit_guard();
DROP FUNCTION sinergi_screening_referral_immutable();
DROP FUNCTION sinergi_screening_referral_sequence();
DROP FUNCTION sinergi_screening_entry_guard();
