-- +goose Up
-- Custody data: one record per person held by a facility, the append-only
-- events that move a record's status, and the police units' watch lists.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- A record belongs to one facility, which alone writes it. Identity columns
-- are personal data (NIK, birth date...): never log them.
CREATE TABLE custody_records (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    facility_code         text NOT NULL REFERENCES institutions (code),
    -- The facility's kind when the record was written: an LPKA holds children.
    facility_kind         text NOT NULL,
    register_number       text NOT NULL,
    full_name             text NOT NULL,
    aliases               text[] NOT NULL DEFAULT '{}',
    -- Lower-cased full name and aliases, for trigram (fuzzy) name search.
    search_names          text NOT NULL,
    nik                   text,
    birth_date            date,
    birth_place           text NOT NULL DEFAULT '',
    sex                   text NOT NULL DEFAULT '',
    nationality           text NOT NULL DEFAULT '',
    passport_number       text NOT NULL DEFAULT '',
    address               text NOT NULL DEFAULT '',
    father_name           text NOT NULL DEFAULT '',
    mother_name           text NOT NULL DEFAULT '',
    legal_kind            text NOT NULL,
    detaining_authority   text NOT NULL DEFAULT '',
    detention_end_date    date,
    sentence_months       int NOT NULL DEFAULT 0,
    life_sentence         boolean NOT NULL DEFAULT false,
    expected_release_date date,
    offence_articles      text[] NOT NULL DEFAULT '{}',
    risk_flags            text[] NOT NULL DEFAULT '{}',
    photo_sha256          text NOT NULL DEFAULT '',
    -- SHA-256 of the record's content as the facility sent it: an upload
    -- of the same content changes nothing.
    content_hash          bytea NOT NULL,
    -- Status and the times below follow the events, never the uploads.
    status                text NOT NULL,
    status_time           timestamptz,
    held_since            timestamptz,
    last_event_time       timestamptz,
    create_time           timestamptz NOT NULL,
    update_time           timestamptz NOT NULL,
    -- A child's record (UU 11/2012): held by an LPKA, legal status child, or
    -- under 18 at admission (at registration while not yet admitted). One
    -- definition, here, for every reader.
    child                 boolean GENERATED ALWAYS AS (
        facility_kind = 'LPKA' OR legal_kind = 'CHILD' OR
        (birth_date IS NOT NULL AND
         birth_date > ((coalesce(held_since, create_time) AT TIME ZONE 'Asia/Jakarta')::date - interval '18 years'))
    ) STORED,
    UNIQUE (facility_code, register_number)
);
CREATE INDEX custody_records_nik ON custody_records (nik) WHERE nik IS NOT NULL;
CREATE INDEX custody_records_birth_date ON custody_records (birth_date);
CREATE INDEX custody_records_names ON custody_records USING gin (search_names gin_trgm_ops);

-- Events are append-only. Watchers read them in (txid, id) order and only
-- up to the oldest transaction still running, so an event that commits late
-- with a lower id is never passed over (as the audit sequencer does).
CREATE TABLE custody_events (
    id                          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txid                        bigint NOT NULL DEFAULT (pg_current_xact_id()::text)::bigint,
    record_id                   uuid NOT NULL,
    facility_code               text NOT NULL,
    type                        text NOT NULL,
    effective_time              timestamptz NOT NULL,
    release_reason              text NOT NULL DEFAULT '',
    release_note                text NOT NULL DEFAULT '',
    counterpart_facility_code   text NOT NULL DEFAULT '',
    counterpart_register_number text NOT NULL DEFAULT '',
    -- TRANSFER_IN: the TRANSFER_OUT it completes (at most one transfer in each).
    counterpart_event_id        bigint,
    status_after                text NOT NULL,
    record_time                 timestamptz NOT NULL
);
CREATE INDEX custody_events_position ON custody_events (txid, id);
CREATE INDEX custody_events_record ON custody_events (record_id, id);
CREATE UNIQUE INDEX custody_events_transfer_in ON custody_events (counterpart_event_id) WHERE type = 'TRANSFER_IN';

-- +goose StatementBegin
CREATE FUNCTION sinergi_custody_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'custody events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd
CREATE TRIGGER custody_events_append_only BEFORE UPDATE OR DELETE ON custody_events
    FOR EACH ROW EXECUTE FUNCTION sinergi_custody_events_append_only();
CREATE TRIGGER custody_events_no_truncate BEFORE TRUNCATE ON custody_events
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_custody_events_append_only();

-- A police unit's watch list: by NIK (any record, any facility, also
-- records created later) or by one record. Removal keeps the row.
CREATE TABLE custody_watches (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    institution_code text NOT NULL REFERENCES institutions (code),
    nik              text,
    record_id        uuid REFERENCES custody_records (id),
    reason           text NOT NULL,
    expire_time      timestamptz NOT NULL,
    create_time      timestamptz NOT NULL,
    remove_time      timestamptz,
    operator_id      text NOT NULL,
    purpose          text NOT NULL,
    case_reference   text NOT NULL DEFAULT '',
    CHECK ((nik IS NULL) <> (record_id IS NULL))
);
CREATE INDEX custody_watches_institution ON custody_watches (institution_code, create_time DESC, id);

-- Events are append-only, and records are never deleted (people missing
-- from a roster are reported, not removed): the database holds the
-- application to it, so events need no foreign key (which would queue a
-- row trigger per event of a roster merge).
REVOKE UPDATE, DELETE, TRUNCATE ON custody_events FROM sinergi_app, PUBLIC;
REVOKE DELETE, TRUNCATE ON custody_records FROM sinergi_app, PUBLIC;

-- +goose Down
DROP TABLE custody_watches;
DROP TABLE custody_events;
DROP TABLE custody_records;
DROP FUNCTION sinergi_custody_events_append_only();
