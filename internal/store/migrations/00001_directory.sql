-- +goose Up
-- The directory: institutions of both sides, agreements between them, and
-- revoked client certificates. Every change wakes the servers' directory
-- caches through NOTIFY sinergi_directory.
CREATE TABLE institutions (
    code        text PRIMARY KEY,
    name        text NOT NULL,
    kind        text NOT NULL,
    region_code text NOT NULL DEFAULT '',
    parent_code text REFERENCES institutions (code),
    status      text NOT NULL DEFAULT 'ACTIVE',
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX institutions_parent ON institutions (parent_code);

CREATE TABLE agreements (
    id             text PRIMARY KEY,
    number         text NOT NULL,
    kind           text NOT NULL,
    title          text NOT NULL DEFAULT '',
    scopes         text[] NOT NULL,
    effective_time timestamptz NOT NULL,
    expire_time    timestamptz,
    sign_time      timestamptz,
    signatories    text[] NOT NULL DEFAULT '{}',
    parent_id      text REFERENCES agreements (id),
    revoke_time    timestamptz,
    create_time    timestamptz NOT NULL DEFAULT now()
);

-- A party is one institution, or a whole side optionally limited to a region.
CREATE TABLE agreement_parties (
    agreement_id     text NOT NULL REFERENCES agreements (id) ON DELETE CASCADE,
    position         int NOT NULL,
    institution_code text REFERENCES institutions (code),
    side             text,
    region_prefix    text NOT NULL DEFAULT '',
    PRIMARY KEY (agreement_id, position),
    CHECK ((institution_code IS NULL) <> (side IS NULL))
);
CREATE INDEX agreement_parties_institution ON agreement_parties (institution_code);

CREATE TABLE certificate_revocations (
    serial      text PRIMARY KEY,
    revoke_time timestamptz NOT NULL DEFAULT now(),
    reason      text NOT NULL DEFAULT ''
);

-- +goose StatementBegin
CREATE FUNCTION sinergi_directory_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sinergi_directory', TG_TABLE_NAME);
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER institutions_changed AFTER INSERT OR UPDATE OR DELETE ON institutions
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_directory_changed();
CREATE TRIGGER agreements_changed AFTER INSERT OR UPDATE OR DELETE ON agreements
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_directory_changed();
CREATE TRIGGER agreement_parties_changed AFTER INSERT OR UPDATE OR DELETE ON agreement_parties
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_directory_changed();
CREATE TRIGGER certificate_revocations_changed AFTER INSERT OR UPDATE OR DELETE ON certificate_revocations
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_directory_changed();

-- +goose Down
DROP TABLE certificate_revocations;
DROP TABLE agreement_parties;
DROP TABLE agreements;
DROP TABLE institutions;
DROP FUNCTION sinergi_directory_changed();
