-- +goose Up
-- An auditor's listing of one caller's calls is ordered by (at, id)
-- (store.listAuditQuery). The caller index was (caller_code, at): its
-- order needs an incremental sort on id, and with that cost the planner
-- took a frequent caller's listing through the newest month's primary
-- key instead, filtering out every newer call of the other callers:
-- 129 ms for a page where 266 000 calls of others were the month's newest
-- (make bench-scale, EXPLAIN ANALYZE), 0.9 ms through this index. The
-- index now ends with id, the listing's order: the same number of B-trees
-- on every insert, one column wider. (About 1 s for each 1 000 000 records
-- to build, on two cores.)
DROP INDEX audit_records_caller;
CREATE INDEX audit_records_caller ON audit_records (caller_code, at, id);

-- +goose Down
DROP INDEX audit_records_caller;
CREATE INDEX audit_records_caller ON audit_records (caller_code, at);
