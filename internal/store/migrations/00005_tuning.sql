-- +goose Up
-- After a bulk load (a roster upload, demo data) the planner's statistics
-- are stale until autovacuum catches up, and with them a NIK lookup turned
-- into a scan of a facility's whole index. The server, which runs as
-- sinergi_app and does not own the table, asks for ANALYZE through this.
-- +goose StatementBegin
CREATE FUNCTION sinergi_analyze_custody() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    -- One at a time: a second request while one runs has nothing to add.
    IF pg_try_advisory_xact_lock(hashtext('sinergi_analyze_custody')) THEN
        ANALYZE custody_records;
        ANALYZE custody_events;
    END IF;
END $$;
-- +goose StatementEnd
GRANT EXECUTE ON FUNCTION sinergi_analyze_custody() TO sinergi_app;

-- +goose Down
DROP FUNCTION sinergi_analyze_custody();
