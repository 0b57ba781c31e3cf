-- +goose Up
-- The audit trail becomes a Merkle log (RFC 6962) kept by three roles, none
-- of them a superuser (issue 14):
--
--   sinergi_owner       owns every object; migrations run as it.
--   sinergi_app         the server. It reads the trail, and adds to it only
--                       through sinergi_audit_append, which checks each
--                       record's time against the database's clock and
--                       queues it for the log. It cannot UPDATE, DELETE,
--                       TRUNCATE, DETACH or create partitions of the trail,
--                       write the tree or checkpoints, or delete certificate
--                       revocations.
--   sinergi_integrator  the log's one writer (internal/audit.Integrator):
--                       it takes queued records, appends their leaves and
--                       tree nodes, and signs checkpoints. It cannot change
--                       records either.
--
-- The roles are created, with LOGIN and without superuser, by whoever
-- administers the database server (`sinergi db-setup`, or the SQL in the
-- README) before the first migration.
--
-- Every record now carries a MAC (HMAC-SHA256 under a key that only the
-- server's host holds, derived from the audit signing key) over the bytes
-- its leaf commits to, and every leaf a MAC over its position and hash: a
-- row written by anyone without that key, with the application's or even
-- the owner's credentials, is found by `sinergi audit verify`.
--
-- Records from before this migration have no MAC and are not in the log:
-- their count is kept in audit_log_meta so that verify can tell them from
-- records slipped in later. The hash chain and its checkpoints go.
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sinergi_integrator')
       OR NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sinergi_app') THEN
        RAISE EXCEPTION 'roles sinergi_app and sinergi_integrator must exist: run `sinergi db-setup` as a database administrator first';
    END IF;
END $$;
-- +goose StatementEnd

CREATE TABLE audit_log_meta (
    one            boolean PRIMARY KEY DEFAULT true CHECK (one),
    legacy_records bigint NOT NULL,
    legacy_max_id  bigint NOT NULL,
    log_start      timestamptz NOT NULL DEFAULT now()
);
INSERT INTO audit_log_meta (legacy_records, legacy_max_id)
    SELECT count(*), coalesce(max(id), 0) FROM audit_records;

DROP TABLE audit_chain;
DROP TABLE audit_checkpoints;
DROP INDEX audit_records_txid;
ALTER TABLE audit_records ALTER COLUMN txid DROP NOT NULL, ALTER COLUMN txid DROP DEFAULT;
ALTER TABLE audit_records ALTER COLUMN id DROP DEFAULT;
ALTER TABLE audit_records ADD COLUMN mac bytea;
-- The server takes record ids in blocks of 4096 (sinergi_audit_reserve_ids)
-- and MACs each record with its id before it is written.
ALTER SEQUENCE audit_records_id_seq INCREMENT BY 4096;

-- Records written and not yet in the log: one row per record, inserted by
-- sinergi_audit_append in the record's own transaction, deleted by the
-- integrator in the transaction that appends its leaf. Whatever commits is
-- integrated, in whatever order it commits: no wait on other transactions.
CREATE TABLE audit_queue (
    at timestamptz NOT NULL,
    id bigint NOT NULL,
    PRIMARY KEY (at, id)
);

-- One row per leaf of the log. leaf_hash = SHA-256(0x00 || the record's
-- leaf bytes, sinergi.v1.AuditLeaf); leaf_mac = HMAC(key, position, hash).
-- Kept when retention drops the records, so the tree stays whole.
CREATE TABLE audit_leaves (
    leaf_index bigint PRIMARY KEY,
    record_id  bigint NOT NULL,
    record_at  timestamptz NOT NULL,
    leaf_hash  bytea NOT NULL,
    leaf_mac   bytea NOT NULL
);
CREATE INDEX audit_leaves_record ON audit_leaves (record_id);

-- Hashes of the perfect subtrees at levels 8, 16, 24, ... (one per 256,
-- 65 536, ... leaves); the levels between are computed from these and
-- from the leaves when a proof needs them.
CREATE TABLE audit_nodes (
    level smallint NOT NULL,
    idx   bigint NOT NULL,
    hash  bytea NOT NULL,
    PRIMARY KEY (level, idx)
);

-- The newest signed checkpoint (C2SP tlog-checkpoint note), replaced with
-- every batch the integrator appends; and one checkpoint a minute kept.
CREATE TABLE audit_log_latest (
    one       boolean PRIMARY KEY DEFAULT true CHECK (one),
    tree_size bigint NOT NULL,
    root_hash bytea NOT NULL,
    at        timestamptz NOT NULL,
    note      text NOT NULL
);
CREATE TABLE audit_log_checkpoints (
    tree_size bigint PRIMARY KEY,
    root_hash bytea NOT NULL,
    at        timestamptz NOT NULL,
    note      text NOT NULL
);

-- Institutions registered as witnesses, with their cosigning keys, and
-- the cosignatures they handed back (AddCosignature).
CREATE TABLE audit_witnesses (
    institution_code text PRIMARY KEY REFERENCES institutions (code),
    name             text NOT NULL UNIQUE,
    vkey             text NOT NULL,
    create_time      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE audit_cosignatures (
    witness_code text NOT NULL,
    tree_size    bigint NOT NULL,
    root_hash    bytea NOT NULL,
    note         text NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (witness_code, tree_size)
);

-- Records the integrator refused to put in the log (their MAC does not
-- verify: written outside the server's write path).
CREATE TABLE audit_rejected (
    record_at timestamptz NOT NULL,
    record_id bigint NOT NULL,
    reason    text NOT NULL,
    at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (record_at, record_id)
);

-- Months dropped by retention: their leaves stay, their records are gone.
CREATE TABLE audit_retention (
    month      date PRIMARY KEY,
    records    bigint NOT NULL,
    dropped_at timestamptz NOT NULL DEFAULT now()
);

-- sinergi_audit_append writes one batch of records and queues them for
-- the log. Each record's time must be within five minutes of the
-- database's clock and each must carry a 32-byte MAC; one bad record
-- refuses the batch (the writer then writes the others alone).
-- +goose StatementBegin
CREATE FUNCTION sinergi_audit_append(
    p_id bigint[], p_at timestamptz[], p_request_id text[], p_caller_code text[], p_certificate_serial text[],
    p_operator_id text[], p_method text[], p_purpose text[], p_case_reference text[], p_decision text[],
    p_reason text[], p_status_code text[], p_agreement_ids text[], p_subjects text[], p_latency_us bigint[],
    p_mac bytea[]
) RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM unnest(p_at, p_mac) AS u(at, mac)
               WHERE at IS NULL OR at < clock_timestamp() - interval '5 minutes' OR at > clock_timestamp() + interval '5 minutes'
                  OR mac IS NULL OR length(mac) <> 32) THEN
        RAISE EXCEPTION 'audit record refused: its time is not now or it has no MAC' USING ERRCODE = '22023';
    END IF;
    INSERT INTO audit_records (id, at, request_id, caller_code, certificate_serial, operator_id, method,
            purpose, case_reference, decision, reason, status_code, agreement_ids, subjects, latency_us, mac)
        SELECT id, at, request_id, caller_code, certificate_serial, operator_id, method,
            purpose, case_reference, decision, reason, status_code, agreement_ids::text[], subjects::text[], latency_us, mac
        FROM unnest(p_id, p_at, p_request_id, p_caller_code, p_certificate_serial, p_operator_id, p_method,
            p_purpose, p_case_reference, p_decision, p_reason, p_status_code, p_agreement_ids, p_subjects,
            p_latency_us, p_mac)
            AS u(id, at, request_id, caller_code, certificate_serial, operator_id, method,
                purpose, case_reference, decision, reason, status_code, agreement_ids, subjects, latency_us, mac);
    INSERT INTO audit_queue (at, id) SELECT at, id FROM unnest(p_at, p_id) AS u(at, id);
END $$;
-- +goose StatementEnd

-- sinergi_audit_reserve_ids returns the first of 4096 record ids for the
-- caller to use.
-- +goose StatementBegin
CREATE FUNCTION sinergi_audit_reserve_ids() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    SELECT nextval('audit_records_id_seq')
$$;
-- +goose StatementEnd

-- Partitions, as before, but readable only: no role but the owner gets
-- more than SELECT on them (the default privileges of the schema would
-- otherwise give sinergi_app INSERT, UPDATE and DELETE on each new one).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION sinergi_audit_ensure_partitions(first date, months int) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    m    date := date_trunc('month', first)::date;
    name text;
BEGIN
    FOR i IN 0 .. months - 1 LOOP
        name := 'audit_records_' || to_char(m, 'YYYY_MM');
        IF to_regclass(name) IS NULL
           AND NOT EXISTS (SELECT 1 FROM audit_retention WHERE month = m) THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF audit_records FOR VALUES FROM (%L) TO (%L)',
                name, m, (m + interval '1 month')::date);
            EXECUTE format('CREATE TRIGGER no_truncate BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION sinergi_audit_append_only()', name);
            EXECUTE format('REVOKE ALL ON %I FROM PUBLIC, sinergi_app, sinergi_integrator', name);
            EXECUTE format('GRANT SELECT ON %I TO sinergi_app, sinergi_integrator', name);
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
END $$;
-- +goose StatementEnd

-- sinergi_audit_drop_month drops one month of records for retention:
-- only a month that ended more than a year ago (CJIS keeps audit logs a
-- year at least) and whose every record is in the log. Its leaves stay.
-- +goose StatementBegin
CREATE FUNCTION sinergi_audit_drop_month(m date) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    name text := 'audit_records_' || to_char(m, 'YYYY_MM');
    n    bigint;
BEGIN
    IF m <> date_trunc('month', m)::date THEN
        RAISE EXCEPTION 'not the first day of a month: %', m USING ERRCODE = '22023';
    END IF;
    IF (m + interval '1 month') > now() - interval '365 days' THEN
        RAISE EXCEPTION 'audit month % is less than a year old: not dropped', to_char(m, 'YYYY-MM') USING ERRCODE = '42501';
    END IF;
    IF to_regclass(name) IS NULL THEN
        RETURN 0;
    END IF;
    IF EXISTS (SELECT 1 FROM audit_queue WHERE at >= m AND at < m + interval '1 month') THEN
        RAISE EXCEPTION 'audit month % still has records not in the log: not dropped', to_char(m, 'YYYY-MM') USING ERRCODE = '55000';
    END IF;
    EXECUTE format('SELECT count(*) FROM %I', name) INTO n;
    INSERT INTO audit_retention (month, records) VALUES (m, n);
    EXECUTE format('DROP TABLE %I', name);
    RETURN n;
END $$;
-- +goose StatementEnd

-- Existing partitions: the migrations before this one left them with
-- INSERT, UPDATE and DELETE for sinergi_app (GRANT ... ON ALL TABLES ran
-- after they were made).
-- +goose StatementBegin
DO $$
DECLARE
    part regclass;
BEGIN
    FOR part IN SELECT relid FROM pg_partition_tree('audit_records') WHERE relid <> 'audit_records'::regclass LOOP
        EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, sinergi_app, sinergi_integrator', part);
        EXECUTE format('GRANT SELECT ON %s TO sinergi_app, sinergi_integrator', part);
    END LOOP;
END $$;
-- +goose StatementEnd

-- Tables created by the owner from now on are the server's to use, as
-- before (the earlier default privileges belong to whichever role ran
-- the earlier migrations).
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO sinergi_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO sinergi_app;
GRANT USAGE ON SCHEMA public TO sinergi_integrator;

REVOKE ALL ON audit_records, audit_queue, audit_leaves, audit_nodes, audit_log_latest, audit_log_checkpoints,
    audit_witnesses, audit_cosignatures, audit_rejected, audit_retention, audit_log_meta
    FROM PUBLIC, sinergi_app, sinergi_integrator;
REVOKE ALL ON SEQUENCE audit_records_id_seq FROM PUBLIC, sinergi_app;
GRANT SELECT ON audit_records, audit_leaves, audit_nodes, audit_log_latest, audit_log_checkpoints,
    audit_witnesses, audit_cosignatures, audit_rejected, audit_retention, audit_log_meta TO sinergi_app, sinergi_integrator;
GRANT INSERT ON audit_cosignatures TO sinergi_app;
GRANT SELECT, DELETE ON audit_queue TO sinergi_integrator;
GRANT INSERT ON audit_leaves, audit_nodes, audit_log_checkpoints, audit_rejected TO sinergi_integrator;
GRANT INSERT, UPDATE ON audit_log_latest TO sinergi_integrator;

REVOKE ALL ON FUNCTION sinergi_audit_append(bigint[], timestamptz[], text[], text[], text[], text[], text[], text[], text[],
    text[], text[], text[], text[], text[], bigint[], bytea[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sinergi_audit_append(bigint[], timestamptz[], text[], text[], text[], text[], text[], text[], text[],
    text[], text[], text[], text[], text[], bigint[], bytea[]) TO sinergi_app;
REVOKE ALL ON FUNCTION sinergi_audit_reserve_ids() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sinergi_audit_reserve_ids() TO sinergi_app;
REVOKE ALL ON FUNCTION sinergi_audit_ensure_partitions(date, int) FROM PUBLIC, sinergi_app;
GRANT EXECUTE ON FUNCTION sinergi_audit_ensure_partitions(date, int) TO sinergi_integrator;
REVOKE ALL ON FUNCTION sinergi_audit_drop_month(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sinergi_audit_drop_month(date) TO sinergi_integrator;
REVOKE ALL ON FUNCTION sinergi_audit_clean_pending() FROM PUBLIC, sinergi_app;
GRANT EXECUTE ON FUNCTION sinergi_audit_clean_pending() TO sinergi_integrator;

-- Revocations are never taken back by the server.
REVOKE UPDATE, DELETE, TRUNCATE ON certificate_revocations FROM sinergi_app, PUBLIC;

CREATE TRIGGER audit_leaves_append_only BEFORE UPDATE OR DELETE ON audit_leaves
    FOR EACH ROW EXECUTE FUNCTION sinergi_audit_append_only();
CREATE TRIGGER audit_nodes_append_only BEFORE UPDATE OR DELETE ON audit_nodes
    FOR EACH ROW EXECUTE FUNCTION sinergi_audit_append_only();
CREATE TRIGGER audit_log_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_log_checkpoints
    FOR EACH ROW EXECUTE FUNCTION sinergi_audit_append_only();
CREATE TRIGGER audit_leaves_no_truncate BEFORE TRUNCATE ON audit_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_audit_append_only();
CREATE TRIGGER audit_nodes_no_truncate BEFORE TRUNCATE ON audit_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_audit_append_only();
CREATE TRIGGER audit_log_checkpoints_no_truncate BEFORE TRUNCATE ON audit_log_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_audit_append_only();

-- +goose Down
DROP TRIGGER audit_log_checkpoints_no_truncate ON audit_log_checkpoints;
DROP FUNCTION sinergi_audit_drop_month(date);
DROP FUNCTION sinergi_audit_reserve_ids();
DROP FUNCTION sinergi_audit_append(bigint[], timestamptz[], text[], text[], text[], text[], text[], text[], text[],
    text[], text[], text[], text[], text[], bigint[], bytea[]);
DROP TABLE audit_retention, audit_rejected, audit_cosignatures, audit_witnesses, audit_log_checkpoints,
    audit_log_latest, audit_nodes, audit_leaves, audit_queue, audit_log_meta;
ALTER SEQUENCE audit_records_id_seq INCREMENT BY 1;
ALTER TABLE audit_records DROP COLUMN mac;
ALTER TABLE audit_records ALTER COLUMN id SET DEFAULT nextval('audit_records_id_seq');
ALTER TABLE audit_records ALTER COLUMN txid SET DEFAULT (pg_current_xact_id()::text)::bigint;
CREATE INDEX audit_records_txid ON audit_records (txid, id);
CREATE TABLE audit_chain (
    seq       bigint NOT NULL,
    record_id bigint NOT NULL,
    record_at timestamptz NOT NULL,
    txid      bigint NOT NULL,
    hash      bytea NOT NULL,
    PRIMARY KEY (seq, record_at)
) PARTITION BY RANGE (record_at);
CREATE TABLE audit_checkpoints (
    seq        bigint NOT NULL,
    head_hash  bytea NOT NULL,
    at         timestamptz NOT NULL,
    kind       text NOT NULL DEFAULT 'periodic',
    signature  bytea NOT NULL,
    public_key bytea NOT NULL,
    PRIMARY KEY (seq, kind)
);
