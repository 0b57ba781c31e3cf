-- +goose Up
-- The audit trail. audit_records is append-only: a trigger refuses UPDATE,
-- DELETE and TRUNCATE, and the application role (sinergi_app, which the
-- server assumes with SET ROLE) may only SELECT and INSERT. Rows are
-- partitioned by month so that retention drops whole partitions.
--
-- txid is the inserting transaction's id. The sequencer chains rows in
-- (txid, id) order, and only rows whose transaction is older than every
-- transaction still running, so a row that commits late can never be passed
-- over: see internal/audit/sequencer.go.
-- The application role. The server SETs ROLE to it on every connection, so
-- the database itself, not only our code, keeps the trail append-only.
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sinergi_app') THEN
        CREATE ROLE sinergi_app NOLOGIN;
    END IF;
END $$;
-- +goose StatementEnd
CREATE SEQUENCE audit_records_id_seq;

CREATE TABLE audit_records (
    id                 bigint NOT NULL DEFAULT nextval('audit_records_id_seq'),
    txid               bigint NOT NULL DEFAULT (pg_current_xact_id()::text)::bigint,
    at                 timestamptz NOT NULL,
    request_id         text NOT NULL,
    caller_code        text NOT NULL DEFAULT '',
    certificate_serial text NOT NULL DEFAULT '',
    operator_id        text NOT NULL DEFAULT '',
    method             text NOT NULL,
    purpose            text NOT NULL DEFAULT '',
    case_reference     text NOT NULL DEFAULT '',
    decision           text NOT NULL,
    reason             text NOT NULL DEFAULT '',
    agreement_ids      text[] NOT NULL DEFAULT '{}',
    status_code        text NOT NULL,
    subjects           text[] NOT NULL DEFAULT '{}',
    latency_us         bigint NOT NULL,
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE INDEX audit_records_txid ON audit_records (txid, id);
CREATE INDEX audit_records_at ON audit_records (at);
CREATE INDEX audit_records_subjects ON audit_records USING gin (subjects);
CREATE INDEX audit_records_caller ON audit_records (caller_code, at);

-- The hash chain: one row per sequenced record. hash = SHA-256(previous hash
-- || canonical bytes of the record). Partitioned like the records it covers.
CREATE TABLE audit_chain (
    seq       bigint NOT NULL,
    record_id bigint NOT NULL,
    record_at timestamptz NOT NULL,
    txid      bigint NOT NULL,
    hash      bytea NOT NULL,
    PRIMARY KEY (seq, record_at)
) PARTITION BY RANGE (record_at);
CREATE INDEX audit_chain_record ON audit_chain (record_id);

-- Signed statements of the chain head. kind 'retention' marks where old
-- partitions were dropped: verification resumes from its head hash.
CREATE TABLE audit_checkpoints (
    seq        bigint NOT NULL,
    head_hash  bytea NOT NULL,
    at         timestamptz NOT NULL,
    kind       text NOT NULL DEFAULT 'periodic',
    signature  bytea NOT NULL,
    public_key bytea NOT NULL,
    PRIMARY KEY (seq, kind)
);

-- +goose StatementBegin
CREATE FUNCTION sinergi_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd

CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON audit_records
    FOR EACH ROW EXECUTE FUNCTION sinergi_audit_append_only();
CREATE TRIGGER audit_chain_append_only BEFORE UPDATE OR DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION sinergi_audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_audit_append_only();

-- sinergi_audit_ensure_partitions creates the monthly partitions of the
-- records and the chain for the months from 'first' on, 'months' of them.
-- +goose StatementBegin
CREATE FUNCTION sinergi_audit_ensure_partitions(first date, months int) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    m    date := date_trunc('month', first)::date;
    name text;
BEGIN
    FOR i IN 0 .. months - 1 LOOP
        name := to_char(m, 'YYYY_MM');
        IF to_regclass('audit_records_' || name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF audit_records FOR VALUES FROM (%L) TO (%L)',
                'audit_records_' || name, m, (m + interval '1 month')::date);
            EXECUTE format('CREATE TRIGGER no_truncate BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION sinergi_audit_append_only()',
                'audit_records_' || name);
            EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %I FROM sinergi_app, PUBLIC', 'audit_records_' || name);
        END IF;
        IF to_regclass('audit_chain_' || name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF audit_chain FOR VALUES FROM (%L) TO (%L)',
                'audit_chain_' || name, m, (m + interval '1 month')::date);
            EXECUTE format('CREATE TRIGGER no_truncate BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION sinergi_audit_append_only()',
                'audit_chain_' || name);
            EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %I FROM sinergi_app, PUBLIC', 'audit_chain_' || name);
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
END $$;
-- +goose StatementEnd

CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_audit_append_only();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_audit_append_only();

-- Partitions from last month to a year ahead; the server adds the coming
-- months as time passes (audit partition upkeep, internal/server).
SELECT sinergi_audit_ensure_partitions((now() - interval '1 month')::date, 15);

GRANT USAGE ON SCHEMA public TO sinergi_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO sinergi_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO sinergi_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO sinergi_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO sinergi_app;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_records, audit_chain, audit_checkpoints FROM sinergi_app, PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sinergi_audit_ensure_partitions(date, int) TO sinergi_app;

-- +goose Down
DROP TABLE audit_checkpoints;
DROP TABLE audit_chain;
DROP TABLE audit_records;
DROP SEQUENCE audit_records_id_seq;
DROP FUNCTION sinergi_audit_ensure_partitions(date, int);
DROP FUNCTION sinergi_audit_append_only();
