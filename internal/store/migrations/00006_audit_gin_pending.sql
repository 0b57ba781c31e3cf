-- +goose Up
-- The subjects index of the audit trail is a GIN index with fast update:
-- new entries go to a pending list, merged into the index proper when the
-- list passes gin_pending_list_limit (4 MB). That merge was done by the
-- insert that passed the limit, and the insert was the audit writer's
-- group commit: under load, once every few seconds, every call waiting on
-- its audit record waited some 85 ms more for it. The audit sequencer, off
-- the calls' path, now merges the lists every second through this
-- function, so the writer's inserts never find one full. The server runs
-- as sinergi_app and does not own the indexes, hence SECURITY DEFINER.
-- +goose StatementBegin
CREATE FUNCTION sinergi_audit_clean_pending() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    idx   regclass;
    pages bigint := 0;
BEGIN
    -- One at a time: a second request while one runs has nothing to add.
    IF NOT pg_try_advisory_xact_lock(hashtext('sinergi_audit_clean_pending')) THEN
        RETURN 0;
    END IF;
    FOR idx IN SELECT relid FROM pg_partition_tree('audit_records_subjects') WHERE isleaf LOOP
        pages := pages + gin_clean_pending_list(idx);
    END LOOP;
    RETURN pages;
END $$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION sinergi_audit_clean_pending() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sinergi_audit_clean_pending() TO sinergi_app;

-- +goose Down
DROP FUNCTION sinergi_audit_clean_pending();
