-- +goose Up
-- Certificate revocations are written in one form, the one the
-- authentication path compares with: lower-case hexadecimal without leading
-- zeros (pki.SerialText). Rows written before in another spelling (a
-- leading zero, upper case, colons, 0x) never matched a certificate; they
-- are rewritten to that form here, and where two spell the same serial the
-- earlier revocation time is kept. Rows that are no serial at all (the old
-- command took any text) stay as they were, listed by `sinergi revoke-cert
-- --list` as matching no certificate: nothing is dropped.
-- +goose StatementBegin
DO $$
DECLARE
    r record;
    n text;
BEGIN
    FOR r IN SELECT serial, revoke_time FROM certificate_revocations ORDER BY revoke_time, serial LOOP
        n := replace(regexp_replace(lower(btrim(r.serial)), '^(serial=)?(0x)?', ''), ':', '');
        CONTINUE WHEN n !~ '^[0-9a-f]{1,64}$';
        n := coalesce(nullif(ltrim(n, '0'), ''), '0');
        CONTINUE WHEN n = r.serial;
        IF EXISTS (SELECT 1 FROM certificate_revocations WHERE serial = n) THEN
            UPDATE certificate_revocations SET revoke_time = least(revoke_time, r.revoke_time) WHERE serial = n;
            DELETE FROM certificate_revocations WHERE serial = r.serial;
        ELSE
            UPDATE certificate_revocations SET serial = n WHERE serial = r.serial;
        END IF;
    END LOOP;
END $$;
-- +goose StatementEnd

-- Every new row must be in that form (rows kept above are not checked).
ALTER TABLE certificate_revocations
    ADD CONSTRAINT certificate_revocations_serial_form CHECK (serial ~ '^(0|[1-9a-f][0-9a-f]{0,63})$') NOT VALID,
    ADD COLUMN source text NOT NULL DEFAULT 'serial',
    ADD COLUMN issuer text NOT NULL DEFAULT '',
    ADD COLUMN create_time timestamptz NOT NULL DEFAULT now();
COMMENT ON COLUMN certificate_revocations.source IS 'serial (revoke-cert --serial), certificate (--cert) or crl (--crl)';
COMMENT ON COLUMN certificate_revocations.issuer IS 'for a CRL import: the CRL issuer';

-- A revocation is never lifted or lost: no UPDATE, DELETE or TRUNCATE, for
-- the application role by its privileges and for everyone by a trigger.
-- +goose StatementBegin
CREATE FUNCTION sinergi_revocations_permanent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'certificate revocations are permanent: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd
CREATE TRIGGER certificate_revocations_permanent BEFORE UPDATE OR DELETE ON certificate_revocations
    FOR EACH ROW EXECUTE FUNCTION sinergi_revocations_permanent();
CREATE TRIGGER certificate_revocations_no_truncate BEFORE TRUNCATE ON certificate_revocations
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_revocations_permanent();
REVOKE UPDATE, DELETE, TRUNCATE ON certificate_revocations FROM sinergi_app, PUBLIC;
GRANT SELECT, INSERT ON certificate_revocations TO sinergi_app;

-- The client certificates the servers have seen in use, one row per
-- certificate (by SHA-256 of its DER), so that an operator sees which
-- institution's certificate expires when (`sinergi certs`, and the
-- sinergi_client_certificate_expiry_timestamp_seconds metric). A server
-- writes a row when it first authenticates a call with the certificate and
-- refreshes last_seen at most once an hour per certificate.
CREATE TABLE client_certificates (
    fingerprint      bytea PRIMARY KEY CHECK (length(fingerprint) = 32),
    serial           text NOT NULL,
    institution_code text NOT NULL,
    spiffe_id        text NOT NULL,
    subject          text NOT NULL DEFAULT '',
    issuer           text NOT NULL DEFAULT '',
    not_before       timestamptz NOT NULL,
    not_after        timestamptz NOT NULL,
    first_seen       timestamptz NOT NULL,
    last_seen        timestamptz NOT NULL
);
CREATE INDEX client_certificates_not_after ON client_certificates (not_after);
GRANT SELECT, INSERT, UPDATE ON client_certificates TO sinergi_app;
REVOKE DELETE, TRUNCATE ON client_certificates FROM sinergi_app, PUBLIC;

-- +goose Down
DROP TABLE client_certificates;
DROP TRIGGER certificate_revocations_no_truncate ON certificate_revocations;
DROP TRIGGER certificate_revocations_permanent ON certificate_revocations;
DROP FUNCTION sinergi_revocations_permanent();
ALTER TABLE certificate_revocations
    DROP CONSTRAINT certificate_revocations_serial_form,
    DROP COLUMN source,
    DROP COLUMN issuer,
    DROP COLUMN create_time;
GRANT UPDATE, DELETE ON certificate_revocations TO sinergi_app;
