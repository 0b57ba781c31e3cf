-- +goose Up
-- An agreement registry both sides can trust. An agreement registered by
-- one side's administrator is pending until the other side's confirms it
-- (proposed_by, confirm_time); each act names its officer. Once registered,
-- an agreement's terms never change and it is never deleted: it is revoked,
-- once, from the moment of revocation on (never backdated). The database
-- holds every writer to this, whatever its privileges on the table.
ALTER TABLE agreements
    ADD COLUMN proposed_by      text,
    ADD COLUMN confirm_time     timestamptz,
    ADD COLUMN create_operator  text NOT NULL DEFAULT '',
    ADD COLUMN confirm_operator text NOT NULL DEFAULT '',
    ADD COLUMN revoke_operator  text NOT NULL DEFAULT '',
    ADD CONSTRAINT agreements_proposed_by CHECK (proposed_by IN ('CORRECTIONS', 'POLRI')),
    ADD CONSTRAINT agreements_confirm_needs_proposal CHECK (confirm_time IS NULL OR proposed_by IS NOT NULL);
CREATE INDEX agreements_parent ON agreements (parent_id) WHERE parent_id IS NOT NULL;

-- +goose StatementBegin
CREATE FUNCTION sinergi_agreement_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'agreements are never deleted, only revoked' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'agreement %: agreements are never deleted, only revoked', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.revoke_time IS NOT NULL AND NEW.revoke_time < now() - interval '1 minute' THEN
            RAISE EXCEPTION 'agreement %: a revocation takes effect from now, never earlier', NEW.id
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF (NEW.id, NEW.number, NEW.kind, NEW.title, NEW.scopes, NEW.effective_time, NEW.expire_time, NEW.sign_time,
        NEW.signatories, NEW.parent_id, NEW.proposed_by, NEW.create_time, NEW.create_operator)
       IS DISTINCT FROM
       (OLD.id, OLD.number, OLD.kind, OLD.title, OLD.scopes, OLD.effective_time, OLD.expire_time, OLD.sign_time,
        OLD.signatories, OLD.parent_id, OLD.proposed_by, OLD.create_time, OLD.create_operator) THEN
        RAISE EXCEPTION 'agreement %: the terms of a registered agreement never change', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.revoke_time IS NOT NULL AND (NEW.revoke_time, NEW.revoke_operator) IS DISTINCT FROM (OLD.revoke_time, OLD.revoke_operator) THEN
        RAISE EXCEPTION 'agreement %: a revocation is never changed or undone', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.revoke_time IS NULL AND NEW.revoke_time IS NOT NULL AND NEW.revoke_time < now() - interval '1 minute' THEN
        RAISE EXCEPTION 'agreement %: a revocation takes effect from now, never earlier', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.confirm_time IS NOT NULL AND (NEW.confirm_time, NEW.confirm_operator) IS DISTINCT FROM (OLD.confirm_time, OLD.confirm_operator) THEN
        RAISE EXCEPTION 'agreement %: a confirmation is never changed or undone', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER agreements_guard BEFORE INSERT OR UPDATE OR DELETE ON agreements
    FOR EACH ROW EXECUTE FUNCTION sinergi_agreement_guard();

-- An agreement's parties are written with it, in its own transaction, and
-- never changed afterwards.
-- +goose StatementBegin
CREATE FUNCTION sinergi_agreement_parties_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'agreement parties never change' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION 'agreement %: its parties never change', OLD.agreement_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM agreements a WHERE a.id = NEW.agreement_id AND a.xmin = pg_current_xact_id()::xid) THEN
        RAISE EXCEPTION 'agreement %: parties are registered with the agreement, never added later', NEW.agreement_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER agreement_parties_guard BEFORE INSERT OR UPDATE OR DELETE ON agreement_parties
    FOR EACH ROW EXECUTE FUNCTION sinergi_agreement_parties_guard();
CREATE TRIGGER agreements_no_truncate BEFORE TRUNCATE ON agreements
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_agreement_guard();
CREATE TRIGGER agreement_parties_no_truncate BEFORE TRUNCATE ON agreement_parties
    FOR EACH STATEMENT EXECUTE FUNCTION sinergi_agreement_parties_guard();

-- A watch delivers only under the agreements that let its unit be told of
-- custody events when it was added; when all have ended, so has the watch.
-- Watches made before this was recorded keep the custody-events
-- agreements there were: each delivery still needs one of them to cover
-- the event's facility now.
ALTER TABLE custody_watches ADD COLUMN agreement_ids text[] NOT NULL DEFAULT '{}';
UPDATE custody_watches SET agreement_ids = ARRAY(SELECT id FROM agreements WHERE 'CUSTODY_EVENTS' = ANY (scopes) ORDER BY id);

-- +goose Down
ALTER TABLE custody_watches DROP COLUMN agreement_ids;
DROP TRIGGER agreement_parties_no_truncate ON agreement_parties;
DROP TRIGGER agreements_no_truncate ON agreements;
DROP TRIGGER agreement_parties_guard ON agreement_parties;
DROP FUNCTION sinergi_agreement_parties_guard();
DROP TRIGGER agreements_guard ON agreements;
DROP FUNCTION sinergi_agreement_guard();
DROP INDEX agreements_parent;
ALTER TABLE agreements
    DROP CONSTRAINT agreements_confirm_needs_proposal,
    DROP CONSTRAINT agreements_proposed_by,
    DROP COLUMN revoke_operator,
    DROP COLUMN confirm_operator,
    DROP COLUMN create_operator,
    DROP COLUMN confirm_time,
    DROP COLUMN proposed_by;
