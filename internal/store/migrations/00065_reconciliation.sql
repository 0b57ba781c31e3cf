-- +goose Up
-- Roster reconciliation that reaches people (issue 17): a person held on
-- record and missing from a full roster opens an item the facility must
-- resolve within a day (released, transferred, or the roster was wrong);
-- unresolved, it is escalated to the regional office and the police
-- watching the person are told. One open item per record; an item is
-- escalated once and resolved once, and never otherwise changed.
CREATE TABLE reconciliation_items (
    id               uuid PRIMARY KEY,
    facility_code    text NOT NULL REFERENCES institutions (code),
    record_id        uuid NOT NULL REFERENCES custody_records (id),
    open_time        timestamptz NOT NULL,
    due_time         timestamptz NOT NULL CHECK (due_time > open_time),
    resolution       text NOT NULL DEFAULT '' CHECK (resolution IN ('', 'RELEASED', 'TRANSFERRED', 'ERROR')),
    note             text NOT NULL DEFAULT '',
    resolve_time     timestamptz,
    resolve_operator text NOT NULL DEFAULT '',
    escalate_time    timestamptz,
    escalated_to     text NOT NULL DEFAULT '',
    CHECK ((resolution = '') = (resolve_time IS NULL))
);
CREATE UNIQUE INDEX reconciliation_items_open ON reconciliation_items (record_id) WHERE resolve_time IS NULL;
CREATE INDEX reconciliation_items_facility ON reconciliation_items (facility_code, open_time, id);
CREATE INDEX reconciliation_items_due ON reconciliation_items (due_time) WHERE resolve_time IS NULL AND escalate_time IS NULL;
CREATE INDEX reconciliation_items_escalated ON reconciliation_items (escalated_to, open_time, id) WHERE escalated_to <> '';

-- +goose StatementBegin
CREATE FUNCTION sinergi_reconciliation_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.resolve_time IS NULL AND OLD.escalate_time IS NULL AND NEW.escalate_time IS NOT NULL
       AND NEW.escalated_to <> '' AND NEW.resolve_time IS NULL
       AND (to_jsonb(NEW) - 'escalate_time' - 'escalated_to') = (to_jsonb(OLD) - 'escalate_time' - 'escalated_to') THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.resolve_time IS NULL AND NEW.resolve_time IS NOT NULL
       AND (to_jsonb(NEW) - 'resolution' - 'note' - 'resolve_time' - 'resolve_operator')
         = (to_jsonb(OLD) - 'resolution' - 'note' - 'resolve_time' - 'resolve_operator') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'a reconciliation item is escalated once and resolved once, and never otherwise changed or deleted: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd
CREATE TRIGGER reconciliation_items_guard BEFORE UPDATE OR DELETE ON reconciliation_items
    FOR EACH ROW EXECUTE FUNCTION sinergi_reconciliation_guard();
CREATE TRIGGER reconciliation_items_no_truncate BEFORE TRUNCATE ON reconciliation_items
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_reconciliation_guard();
REVOKE DELETE, TRUNCATE ON reconciliation_items FROM sinergi_app, PUBLIC;

ALTER TABLE hit_notices ADD COLUMN reconciliation_item_id uuid;

-- +goose Down
ALTER TABLE hit_notices DROP COLUMN reconciliation_item_id;
DROP TABLE reconciliation_items;
DROP FUNCTION sinergi_reconciliation_guard();
