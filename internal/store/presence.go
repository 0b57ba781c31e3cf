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

// Hit notices are written without a position; HitNoticesChannel wakes the
// sequencer that gives them one (SequenceHitNotices), which NOTIFYs
// HitNoticesOrderedChannel, what watchers wait on.
const (
	HitNoticesChannel        = "sinergi_hit_notices"
	HitNoticesOrderedChannel = "sinergi_hit_notices_ordered"
)

// PresenceHit is one record found for one police unit's presence check
// outside its reach: what its hit reference resolves to.
type PresenceHit struct {
	ID, Requester, RecordID, Facility, Province string
	OperatorID, Purpose, CaseReference          string
	HitTime, ExpireTime                         time.Time
}

// HitNoticeRow is a notice to write, and to whom.
type HitNoticeRow struct {
	Audience string
	Notice   *sinergiv1.HitNotice
}

// HitNoticeAt is a notice at its position in its audience's stream.
type HitNoticeAt struct {
	Seq    int64
	Notice *sinergiv1.HitNotice
}

const (
	hitUrgencyPrefix = "HIT_URGENCY_"
	hitStatePrefix   = "HIT_REQUEST_STATE_"
	hitNoticePrefix  = "HIT_NOTICE_KIND_"
	purposePrefix    = "PURPOSE_"
)

func queueHitNotices(b *pgx.Batch, notices []HitNoticeRow) {
	for _, n := range notices {
		m := n.Notice
		urgency, state := "", ""
		if m.GetUrgency() != sinergiv1.HitUrgency_HIT_URGENCY_UNSPECIFIED {
			urgency = enumText(m.GetUrgency().String(), hitUrgencyPrefix)
		}
		if m.GetState() != sinergiv1.HitRequestState_HIT_REQUEST_STATE_UNSPECIFIED {
			state = enumText(m.GetState().String(), hitStatePrefix)
		}
		purpose := ""
		if m.GetPurpose() != sinergiv1.Purpose_PURPOSE_UNSPECIFIED {
			purpose = enumText(m.GetPurpose().String(), purposePrefix)
		}
		b.Queue(`INSERT INTO hit_notices (audience, kind, at, facility_code, record_id, requester_code, operator_id, purpose,
				case_reference, hit_request_id, urgency, due_time, state, expected_release_date, days_left, reconciliation_item_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
			n.Audience, enumText(m.GetKind().String(), hitNoticePrefix), m.GetTime().AsTime(), m.GetFacilityCode(),
			custodyOptText(m.GetRecordId()), m.GetRequesterCode(), m.GetOperatorId(), purpose, m.GetCaseReference(),
			custodyOptText(m.GetHitRequestId()), urgency, tsOrNil(m.GetDueTime()), state, custodyDate(m.GetExpectedReleaseDate()), m.GetDaysLeft(),
			custodyOptText(m.GetReconciliationItemId()))
	}
}

// wakeHitSequencer tells the sequencer that notices committed. It is sent
// after the commit, in a statement of its own, so that no writer of hits
// holds the notification lock through its commit; the sequencer also
// looks every second, so a lost wake-up only delays.
func (s *Store) wakeHitSequencer(ctx context.Context) {
	_, _ = s.Pool.Exec(context.WithoutCancel(ctx), `SELECT pg_notify($1, '')`, HitNoticesChannel)
}

// PresenceHits are a presence check's hits and the notices to their
// facilities: a Companion of the check's audit record, so that they
// commit with it (and with the records of concurrent calls) before any
// hit reference is handed out.
type PresenceHits struct {
	Hits    []PresenceHit
	Notices []HitNoticeRow
}

// QueueWith queues the hits and the notices.
func (p PresenceHits) QueueWith(b *pgx.Batch) {
	for _, h := range p.Hits {
		b.Queue(`INSERT INTO presence_hits (id, requester_code, record_id, facility_code, province_code, operator_id, purpose,
				case_reference, hit_time, expire_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			h.ID, h.Requester, h.RecordID, h.Facility, h.Province, h.OperatorID, h.Purpose, h.CaseReference, h.HitTime, h.ExpireTime)
	}
	queueHitNotices(b, p.Notices)
}

// Channel wakes the hit notice sequencer when there are notices.
func (p PresenceHits) Channel() string {
	if len(p.Notices) == 0 {
		return ""
	}
	return HitNoticesChannel
}

// GetPresenceHit returns hit id (ErrNotFound when there is none).
func (s *Store) GetPresenceHit(ctx context.Context, id string) (PresenceHit, error) {
	var h PresenceHit
	if !IsReportID(id) {
		return h, ErrNotFound
	}
	err := s.Pool.QueryRow(ctx, `SELECT id::text, requester_code, record_id::text, facility_code, province_code, operator_id, purpose,
			case_reference, hit_time, expire_time FROM presence_hits WHERE id = $1`, id).
		Scan(&h.ID, &h.Requester, &h.RecordID, &h.Facility, &h.Province, &h.OperatorID, &h.Purpose, &h.CaseReference, &h.HitTime, &h.ExpireTime)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, ErrNotFound
	}
	return h, err
}

const hitRequestColumns = `id::text, state, urgency, requester_code, operator_id, purpose, case_reference, reason, province_code,
	facility_code, record_id::text, request_time, due_time, escalate_time, escalated_to, answer_time, answered_by, answer_operator, deny_reason`

func scanHitRequest(row pgx.Row) (*sinergiv1.HitRequest, error) {
	r := &sinergiv1.HitRequest{}
	var state, urgency, purpose string
	var requested, due time.Time
	var escalated, answered pgtype.Timestamptz
	if err := row.Scan(&r.Id, &state, &urgency, &r.RequesterCode, &r.OperatorId, &purpose, &r.CaseReference, &r.Reason, &r.ProvinceCode,
		&r.FacilityCode, &r.RecordId, &requested, &due, &escalated, &r.EscalatedToCode, &answered, &r.AnsweredByCode,
		&r.AnswerOperatorId, &r.DenyReason); err != nil {
		return nil, err
	}
	r.State = sinergiv1.HitRequestState(enumValue(sinergiv1.HitRequestState_value, hitStatePrefix, state))
	r.Urgency = sinergiv1.HitUrgency(enumValue(sinergiv1.HitUrgency_value, hitUrgencyPrefix, urgency))
	r.Purpose = sinergiv1.Purpose(enumValue(sinergiv1.Purpose_value, purposePrefix, purpose))
	r.RequestTime, r.DueTime = timestamppb.New(requested), timestamppb.New(due)
	r.EscalateTime, r.AnswerTime = timestampOf(escalated), timestampOf(answered)
	return r, nil
}

// CreateHitRequest writes request r for hit hitID (every field set by the
// caller) with its notices and the call's audit record (hook). A hit is
// asked for once: when it already was, nothing is written but the audit
// record, and the request made then is returned (created false).
func (s *Store) CreateHitRequest(ctx context.Context, hook SubjectTxHook, hitID string, r *sinergiv1.HitRequest, notices []HitNoticeRow) (*sinergiv1.HitRequest, bool, error) {
	var out *sinergiv1.HitRequest
	created := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO hit_requests (id, hit_id, requester_code, record_id, facility_code, province_code, operator_id,
				purpose, case_reference, reason, urgency, request_time, due_time, state)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'PENDING') ON CONFLICT (hit_id) DO NOTHING`,
			r.GetId(), hitID, r.GetRequesterCode(), r.GetRecordId(), r.GetFacilityCode(), r.GetProvinceCode(), r.GetOperatorId(),
			enumText(r.GetPurpose().String(), purposePrefix), r.GetCaseReference(), r.GetReason(),
			enumText(r.GetUrgency().String(), hitUrgencyPrefix), r.GetRequestTime().AsTime(), r.GetDueTime().AsTime())
		if err != nil {
			return err
		}
		created = tag.RowsAffected() == 1
		if created {
			b := &pgx.Batch{}
			queueHitNotices(b, notices)
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return err
			}
		}
		if out, err = scanHitRequest(tx.QueryRow(ctx, `SELECT `+hitRequestColumns+` FROM hit_requests WHERE hit_id = $1`, hitID)); err != nil {
			return err
		}
		hook.AddSubjects("hit-request/" + out.GetId())
		return hook.WriteTx(ctx, tx)
	})
	if err == nil && created {
		s.wakeHitSequencer(ctx)
	}
	return out, created, err
}

// GetHitRequest returns request id (ErrNotFound when there is none).
func (s *Store) GetHitRequest(ctx context.Context, id string) (*sinergiv1.HitRequest, error) {
	if !IsReportID(id) {
		return nil, ErrNotFound
	}
	r, err := scanHitRequest(s.Pool.QueryRow(ctx, `SELECT `+hitRequestColumns+` FROM hit_requests WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return r, err
}

// ErrUnchanged is what a change function returns to leave the row as it
// is: nothing is written, not even the audit record.
var ErrUnchanged = errors.New("unchanged")

// UpdateHitRequest changes request id under its row lock, on db (the pool
// when nil): change sees the request as it stands, changes it (an answer,
// an escalation) and says whom to tell; the request, the notices and the
// audit record (hook) commit together. change's error rolls all back and
// is returned (ErrUnchanged: nothing was done, no error).
func (s *Store) UpdateHitRequest(ctx context.Context, db DB, hook TxHook, id string, change func(*sinergiv1.HitRequest) ([]HitNoticeRow, error)) (*sinergiv1.HitRequest, error) {
	if db == nil {
		db = s.Pool
	}
	if !IsReportID(id) {
		return nil, ErrNotFound
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	r, err := scanHitRequest(tx.QueryRow(ctx, `SELECT `+hitRequestColumns+` FROM hit_requests WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	notices, err := change(r)
	if errors.Is(err, ErrUnchanged) {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	b := &pgx.Batch{}
	b.Queue(`UPDATE hit_requests SET state = $2, escalate_time = $3, escalated_to = $4, answer_time = $5, answered_by = $6,
			answer_operator = $7, deny_reason = $8 WHERE id = $1`,
		id, enumText(r.GetState().String(), hitStatePrefix), tsOrNil(r.GetEscalateTime()), r.GetEscalatedToCode(),
		tsOrNil(r.GetAnswerTime()), r.GetAnsweredByCode(), r.GetAnswerOperatorId(), r.GetDenyReason())
	queueHitNotices(b, notices)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	if err := hook.WriteTx(ctx, tx); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	if len(notices) > 0 {
		s.wakeHitSequencer(ctx)
	}
	return r, nil
}

// OverdueHitRequests returns up to limit requests still pending, never
// escalated, whose due time is past at now, on db (the pool when nil).
func OverdueHitRequests(ctx context.Context, db DB, now time.Time, limit int) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT id::text FROM hit_requests WHERE state = 'PENDING' AND escalate_time IS NULL AND due_time <= $1
		ORDER BY due_time LIMIT $2`, now, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// SequenceHitNotices gives up to limit committed notices without a
// position the next positions, in id order, and tells the watchers. The
// one leader runs it; its passes commit one after another, so positions
// become visible in order and densely.
func SequenceHitNotices(ctx context.Context, db DB, limit int) (int, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	tag, err := tx.Exec(ctx, `
		UPDATE hit_notices n SET seq = b.s + o.rn
		FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM
		        (SELECT id FROM hit_notices WHERE seq IS NULL ORDER BY id LIMIT $1) q) o,
		     (SELECT coalesce(max(seq), 0) AS s FROM hit_notices) b
		WHERE n.id = o.id`, limit)
	if err != nil {
		return 0, err
	}
	n := int(tag.RowsAffected())
	if n == 0 {
		return 0, nil
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, HitNoticesOrderedChannel); err != nil {
		return 0, err
	}
	return n, tx.Commit(ctx)
}

// HitNoticesHead is the position "now": after every notice ordered so far.
func (s *Store) HitNoticesHead(ctx context.Context) (int64, error) {
	var seq int64
	err := s.Pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM hit_notices`).Scan(&seq)
	return seq, err
}

// HitNoticesAfter returns up to limit notices to audience after position
// after, in order.
func (s *Store) HitNoticesAfter(ctx context.Context, audience string, after int64, limit int) ([]HitNoticeAt, error) {
	rows, err := s.Pool.Query(ctx, `SELECT seq, kind, at, facility_code, coalesce(record_id::text, ''), requester_code, operator_id, purpose,
			case_reference, coalesce(hit_request_id::text, ''), urgency, due_time, state, expected_release_date, days_left,
			coalesce(reconciliation_item_id::text, '')
		FROM hit_notices WHERE audience = $1 AND seq > $2 AND seq IS NOT NULL ORDER BY seq LIMIT $3`, audience, after, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (HitNoticeAt, error) {
		var out HitNoticeAt
		m := &sinergiv1.HitNotice{}
		var kind, purpose, urgency, state string
		var at time.Time
		var due pgtype.Timestamptz
		var expected pgtype.Date
		if err := row.Scan(&out.Seq, &kind, &at, &m.FacilityCode, &m.RecordId, &m.RequesterCode, &m.OperatorId, &purpose,
			&m.CaseReference, &m.HitRequestId, &urgency, &due, &state, &expected, &m.DaysLeft,
			&m.ReconciliationItemId); err != nil {
			return out, err
		}
		m.ExpectedReleaseDate = dateText(expected)
		m.Kind = sinergiv1.HitNoticeKind(enumValue(sinergiv1.HitNoticeKind_value, hitNoticePrefix, kind))
		m.Time, m.DueTime = timestamppb.New(at), timestampOf(due)
		if purpose != "" {
			m.Purpose = sinergiv1.Purpose(enumValue(sinergiv1.Purpose_value, purposePrefix, purpose))
		}
		if urgency != "" {
			m.Urgency = sinergiv1.HitUrgency(enumValue(sinergiv1.HitUrgency_value, hitUrgencyPrefix, urgency))
		}
		if state != "" {
			m.State = sinergiv1.HitRequestState(enumValue(sinergiv1.HitRequestState_value, hitStatePrefix, state))
		}
		out.Notice = m
		return out, nil
	})
}

// DueRelease is a person held whose expected release is near, and the
// notice due for it: the smallest of 30, 7 and 1 days its date is within,
// not given yet for that date.
type DueRelease struct {
	RecordID, Facility, NIK string
	Expected                time.Time
	DaysLeft, Threshold     int
}

// DueReleases returns up to limit people held whose expected release date
// is today or within 30 days of today (a date) and whose notice for the
// threshold it is within has not been given, on db (the pool when nil).
func DueReleases(ctx context.Context, db DB, today time.Time, limit int) ([]DueRelease, error) {
	rows, err := db.Query(ctx, `SELECT id, facility_code, nik, d, days, th FROM (
			SELECT r.id::text AS id, r.facility_code, coalesce(r.nik, '') AS nik, r.expected_release_date AS d,
			       r.expected_release_date - $1::date AS days,
			       CASE WHEN r.expected_release_date - $1::date <= 1 THEN 1
			            WHEN r.expected_release_date - $1::date <= 7 THEN 7 ELSE 30 END AS th, r.id AS rid
			FROM custody_records r
			WHERE r.status = 'HELD' AND r.expected_release_date IS NOT NULL
			  AND r.expected_release_date >= $1::date AND r.expected_release_date <= $1::date + 30) due
		WHERE NOT EXISTS (SELECT 1 FROM release_notices n WHERE n.record_id = due.rid AND n.expected_date = due.d AND n.threshold <= due.th)
		ORDER BY d, id LIMIT $2`, today, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DueRelease, error) {
		var d DueRelease
		err := r.Scan(&d.RecordID, &d.Facility, &d.NIK, &d.Expected, &d.DaysLeft, &d.Threshold)
		return d, err
	})
}

// WatchersOf lists the police units whose watches in force at now follow
// record id or nik (when not empty).
func (s *Store) WatchersOf(ctx context.Context, recordID, nik string, now time.Time) ([]string, error) {
	rows, err := s.Pool.Query(ctx, `SELECT DISTINCT institution_code FROM custody_watches
		WHERE remove_time IS NULL AND expire_time > $3 AND (record_id = $1 OR ($2 <> '' AND nik = $2)) ORDER BY 1`, recordID, nik, now)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// RecordReleaseNotice marks d's notice given and writes its notices with
// the audit record (hook), in one transaction on db (the pool when nil).
// A notice another process gave meanwhile is not given twice: given
// reports whether this call gave it.
func (s *Store) RecordReleaseNotice(ctx context.Context, db DB, hook TxHook, d DueRelease, notices []HitNoticeRow, now time.Time) (given bool, err error) {
	if db == nil {
		db = s.Pool
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	// A notice for a threshold covers the larger ones not given (a person
	// first seen 5 days ahead is told once, at 7).
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO release_notices (record_id, expected_date, threshold, notice_time)
		SELECT $1, $2, t, $4 FROM unnest(ARRAY[30, 7, 1]) AS t WHERE t >= $3 ON CONFLICT DO NOTHING`, d.RecordID, d.Expected, d.Threshold, now)
	queueHitNotices(b, notices)
	br := tx.SendBatch(ctx, b)
	tag, err := br.Exec()
	if err == nil && tag.RowsAffected() == 0 {
		br.Close()
		return false, nil
	}
	if err != nil {
		br.Close()
		return false, err
	}
	if err := br.Close(); err != nil {
		return false, err
	}
	if err := hook.WriteTx(ctx, tx); err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, err
	}
	if len(notices) > 0 {
		s.wakeHitSequencer(ctx)
	}
	return true, nil
}
