package store

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"google.golang.org/protobuf/types/known/timestamppb"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// WatchSubject is the audit subject naming a watch.
func WatchSubject(id string) string { return "watch/" + id }

// custodyWatchColumns, with $active the agreements in force now: a watch
// none of whose agreements is among them has ended with them.
const custodyWatchColumns = `w.id::text, w.institution_code, coalesce(w.nik, ''), coalesce(w.record_id::text, ''), w.reason, w.expire_time,
	w.create_time, w.remove_time, w.operator_id, w.purpose, w.case_reference, w.agreement_ids`

func scanCustodyWatch(row pgx.Row, active []string) (*sinergiv1.Watch, error) {
	w := &sinergiv1.Watch{}
	var expire, created time.Time
	var removed pgtype.Timestamptz
	var purpose string
	if err := row.Scan(&w.Id, &w.InstitutionCode, &w.Nik, &w.RecordId, &w.Reason, &expire, &created, &removed,
		&w.OperatorId, &purpose, &w.CaseReference, &w.AgreementIds); err != nil {
		return nil, err
	}
	if len(w.AgreementIds) == 0 {
		w.AgreementIds = nil
	}
	w.AgreementEnded = !slices.ContainsFunc(w.AgreementIds, func(id string) bool { return slices.Contains(active, id) })
	w.ExpireTime, w.CreateTime, w.RemoveTime = timestamppb.New(expire), timestamppb.New(created), timestampOf(removed)
	w.Purpose = sinergiv1.Purpose(enumValue(sinergiv1.Purpose_value, "PURPOSE_", purpose))
	return w, nil
}

// AddWatch stores w (its institution, target, reason, expiry, access
// context and granting agreements) and returns it with its id.
func (s *Store) AddWatch(ctx context.Context, hook SubjectTxHook, w *sinergiv1.Watch, now time.Time) (*sinergiv1.Watch, error) {
	var out *sinergiv1.Watch
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanCustodyWatch(tx.QueryRow(ctx, `INSERT INTO custody_watches AS w (institution_code, nik, record_id, reason, expire_time,
				create_time, operator_id, purpose, case_reference, agreement_ids)
			VALUES ($1, $2, $3::uuid, $4, $5, $6, $7, $8, $9, $10) RETURNING `+custodyWatchColumns,
			w.GetInstitutionCode(), custodyOptText(w.GetNik()), custodyOptText(w.GetRecordId()), w.GetReason(), w.GetExpireTime().AsTime(), now,
			w.GetOperatorId(), enumText(w.GetPurpose().String(), "PURPOSE_"), w.GetCaseReference(), nonNil(w.GetAgreementIds())), w.GetAgreementIds())
		if err != nil {
			return err
		}
		hook.AddSubjects(WatchSubject(out.GetId()))
		if out.GetRecordId() != "" {
			hook.AddSubjects(CustodySubject(out.GetRecordId()))
		}
		return hook.WriteTx(ctx, tx)
	})
	return out, err
}

// RemoveWatch ends institution's watch id (a watch already removed stays
// as it was); ErrNotFound when institution has no such watch. active are
// the agreements in force now.
func (s *Store) RemoveWatch(ctx context.Context, hook SubjectTxHook, institution, id string, now time.Time, active []string) (*sinergiv1.Watch, error) {
	var out *sinergiv1.Watch
	if !IsCustodyRecordID(id) { // a watch id has the same form
		return nil, ErrNotFound
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanCustodyWatch(tx.QueryRow(ctx, `UPDATE custody_watches w SET remove_time = coalesce(w.remove_time, $3)
			WHERE w.id = $1 AND w.institution_code = $2 RETURNING `+custodyWatchColumns, id, institution, now), active)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		hook.AddSubjects(WatchSubject(out.GetId()))
		return hook.WriteTx(ctx, tx)
	})
	return out, err
}

// WatchPosition is a place in a watch list, newest first.
type WatchPosition struct {
	CreateMicros int64  `json:"t"`
	ID           string `json:"i"`
}

// ListWatches returns institution's watches, newest first, after pos (nil:
// from the start); unless includeInactive, only those in force at now:
// neither removed nor expired, and with an agreement among active (the
// agreements in force now).
func (s *Store) ListWatches(ctx context.Context, institution string, includeInactive bool, now time.Time, active []string, pos *WatchPosition, limit int) ([]*sinergiv1.Watch, error) {
	args := []any{institution, includeInactive, now, limit, nonNil(active)}
	q := `SELECT ` + custodyWatchColumns + ` FROM custody_watches w
		WHERE w.institution_code = $1 AND ($2 OR (w.remove_time IS NULL AND w.expire_time > $3 AND w.agreement_ids && $5::text[]))`
	if pos != nil {
		args = append(args, time.UnixMicro(pos.CreateMicros), pos.ID)
		q += ` AND (w.create_time, w.id) < ($6, $7::uuid)`
	}
	q += ` ORDER BY w.create_time DESC, w.id DESC LIMIT $4`
	rows, err := s.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*sinergiv1.Watch
	for rows.Next() {
		w, err := scanCustodyWatch(rows, active)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// ActiveWatches returns every watch of institution in force at now: not
// removed, not expired, and with an agreement among active.
func (s *Store) ActiveWatches(ctx context.Context, institution string, now time.Time, active []string) ([]*sinergiv1.Watch, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+custodyWatchColumns+` FROM custody_watches w
		WHERE w.institution_code = $1 AND w.remove_time IS NULL AND w.expire_time > $2 AND w.agreement_ids && $3::text[]
		ORDER BY w.create_time, w.id`, institution, now, nonNil(active))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*sinergiv1.Watch
	for rows.Next() {
		w, err := scanCustodyWatch(rows, active)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}
