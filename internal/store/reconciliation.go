package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"google.golang.org/protobuf/types/known/timestamppb"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

const reconciliationPrefix = "RECONCILIATION_RESOLUTION_"

const reconciliationColumns = `i.id::text, i.facility_code, i.record_id::text, r.register_number, i.open_time, i.due_time, i.resolution, i.note,
	i.resolve_time, i.resolve_operator, i.escalate_time, i.escalated_to`

func scanReconciliation(row pgx.Row, extra ...any) (*sinergiv1.ReconciliationItem, error) {
	it := &sinergiv1.ReconciliationItem{}
	var opened, due time.Time
	var resolution string
	var resolved, escalated pgtype.Timestamptz
	dest := append([]any{&it.Id, &it.FacilityCode, &it.RecordId, &it.RegisterNumber, &opened, &due, &resolution, &it.Note,
		&resolved, &it.ResolveOperatorId, &escalated, &it.EscalatedToCode}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	it.OpenTime, it.DueTime = timestamppb.New(opened), timestamppb.New(due)
	if resolution != "" {
		it.Resolution = sinergiv1.ReconciliationResolution(enumValue(sinergiv1.ReconciliationResolution_value, reconciliationPrefix, resolution))
	}
	it.ResolveTime, it.EscalateTime = timestampOf(resolved), timestampOf(escalated)
	return it, nil
}

// ReconciliationFilter selects items: a facility's own, or those escalated
// to a regional office.
type ReconciliationFilter struct {
	Facility, EscalatedTo string
	IncludeResolved       bool
	AfterTime             time.Time
	AfterID               string
	Limit                 int
}

// ListReconciliationItems returns the items f selects, oldest first.
func (s *Store) ListReconciliationItems(ctx context.Context, f ReconciliationFilter) ([]*sinergiv1.ReconciliationItem, error) {
	after := f.AfterID
	if after == "" {
		after = "00000000-0000-0000-0000-000000000000"
	}
	rows, err := s.Pool.Query(ctx, `SELECT `+reconciliationColumns+` FROM reconciliation_items i JOIN custody_records r ON r.id = i.record_id
		WHERE (($1 <> '' AND i.facility_code = $1) OR ($2 <> '' AND i.escalated_to = $2))
		  AND ($3 OR i.resolve_time IS NULL) AND (i.open_time, i.id) > ($4, $5::uuid)
		ORDER BY i.open_time, i.id LIMIT $6`, f.Facility, f.EscalatedTo, f.IncludeResolved, f.AfterTime, after, f.Limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sinergiv1.ReconciliationItem, error) { return scanReconciliation(r) })
}

// ResolveReconciliationItem resolves facility's item id, with the call's
// audit record (hook). Another facility's item is ErrNotFound, as a
// missing one; a resolved one, a PreconditionError.
func (s *Store) ResolveReconciliationItem(ctx context.Context, hook SubjectTxHook, facility, id string, res sinergiv1.ReconciliationResolution,
	note, operator string, now time.Time) (*sinergiv1.ReconciliationItem, error) {
	if !IsReportID(id) && !IsCustodyRecordID(id) {
		return nil, ErrNotFound
	}
	var out *sinergiv1.ReconciliationItem
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		it, err := scanReconciliation(tx.QueryRow(ctx, `SELECT `+reconciliationColumns+` FROM reconciliation_items i
			JOIN custody_records r ON r.id = i.record_id WHERE i.id = $1 AND i.facility_code = $2 FOR UPDATE OF i`, id, facility))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if it.GetResolveTime() != nil {
			return &PreconditionError{Reason: "the item is already resolved"}
		}
		if _, err := tx.Exec(ctx, `UPDATE reconciliation_items SET resolution = $2, note = $3, resolve_time = $4, resolve_operator = $5 WHERE id = $1`,
			id, enumText(res.String(), reconciliationPrefix), note, now, operator); err != nil {
			return err
		}
		it.Resolution, it.Note, it.ResolveTime, it.ResolveOperatorId = res, note, timestamppb.New(now), operator
		out = it
		hook.AddSubjects(CustodySubject(it.GetRecordId()))
		return hook.WriteTx(ctx, tx)
	})
	return out, err
}

// OverdueReconciliationItems returns up to limit unresolved, unescalated
// items due at now, on db.
func OverdueReconciliationItems(ctx context.Context, db DB, now time.Time, limit int) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT id::text FROM reconciliation_items WHERE resolve_time IS NULL AND escalate_time IS NULL AND due_time <= $1
		ORDER BY due_time LIMIT $2`, now, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// EscalateReconciliationItem escalates item id if it is still due at now,
// under its row lock, on db (the pool when nil): plan says to whom (the
// office) and whom to tell, given the item and the person's NIK; the
// escalation, its notices and the audit record (hook) commit together.
func (s *Store) EscalateReconciliationItem(ctx context.Context, db DB, hook TxHook, id string, now time.Time,
	plan func(it *sinergiv1.ReconciliationItem, nik string) (string, []HitNoticeRow)) (bool, error) {
	if db == nil {
		db = s.Pool
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	var nik string
	it, err := scanReconciliation(tx.QueryRow(ctx, `SELECT `+reconciliationColumns+`, coalesce(r.nik, '') FROM reconciliation_items i
		JOIN custody_records r ON r.id = i.record_id WHERE i.id = $1 FOR UPDATE OF i`, id), &nik)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if it.GetResolveTime() != nil || it.GetEscalateTime() != nil || now.Before(it.GetDueTime().AsTime()) {
		return false, nil
	}
	to, notices := plan(it, nik)
	if to == "" {
		return false, nil
	}
	b := &pgx.Batch{}
	b.Queue(`UPDATE reconciliation_items SET escalate_time = $2, escalated_to = $3 WHERE id = $1`, id, now, to)
	queueHitNotices(b, notices)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return false, err
	}
	if err := hook.WriteTx(ctx, tx); err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, err
	}
	s.wakeHitSequencer(ctx)
	return true, nil
}
