-- +goose Up
-- Creating the coming months' audit partitions waits for any other
-- process doing the same (a transaction-level advisory lock, "PARTS"),
-- instead of each server taking a session lock at start and refusing to
-- start when it could not: a second server starting just after another
-- found the first's lock not yet released ("audit partitions: another
-- process leads", seen in make test) and did not start.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION sinergi_audit_ensure_partitions(first date, months int) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    m    date := date_trunc('month', first)::date;
    name text;
BEGIN
    PERFORM pg_advisory_xact_lock(x'5041525453'::bigint);
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

-- +goose Down
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
