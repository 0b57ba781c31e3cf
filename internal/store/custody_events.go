package store

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/authz/restrict"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TransferOrigin is the transfer out a TRANSFER_IN would complete.
type TransferOrigin struct {
	RecordID string
	Status   sinergiv1.CustodyStatus
	// The origin's last TRANSFER_OUT (EventID 0 when it has none).
	EventID       int64
	Destination   string
	EffectiveTime time.Time
	// A transfer in already completes it.
	Received bool
}

// CustodyState is what a transition is decided on.
type CustodyState struct {
	RecordID, RegisterNumber string
	Status                   sinergiv1.CustodyStatus
	LastEventTime            *time.Time
	// TRANSFER_IN only: the record at the facility of origin; nil when the
	// facility has no record with that register number.
	Origin *TransferOrigin
	// CORRECTION only: the record's events in force (neither corrections
	// nor corrected), oldest first.
	InForce []EventInForce
}

// EventInForce is an event the record's status follows.
type EventInForce struct {
	ID            int64
	Type          sinergiv1.CustodyEventType
	EffectiveTime time.Time
	StatusAfter   sinergiv1.CustodyStatus
}

// admits reports whether events of type t set when a person is held since.
func admits(t sinergiv1.CustodyEventType) bool {
	return t == sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_ADMISSION || t == sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_TRANSFER_IN
}

func eventTypeText(t sinergiv1.CustodyEventType) string {
	return enumText(t.String(), "CUSTODY_EVENT_TYPE_")
}

const custodyEventColumns = `e.id, e.record_id::text, e.facility_code, r.register_number, e.type, e.effective_time, e.release_reason,
	e.release_note, e.counterpart_facility_code, e.counterpart_register_number, e.status_after, e.record_time,
	coalesce(e.corrects_event_id, 0), e.correction_reason,
	coalesce((SELECT x.id FROM custody_events x WHERE x.corrects_event_id = e.id), 0), e.escort_codes`

func scanCustodyEvent(row pgx.Row, extra ...any) (*sinergiv1.CustodyEvent, error) {
	ev := &sinergiv1.CustodyEvent{}
	var typ, reason, after string
	var eff, recorded time.Time
	dest := append([]any{&ev.Id, &ev.RecordId, &ev.FacilityCode, &ev.RegisterNumber, &typ, &eff, &reason, &ev.ReleaseNote,
		&ev.CounterpartFacilityCode, &ev.CounterpartRegisterNumber, &after, &recorded,
		&ev.CorrectsEventId, &ev.CorrectionReason, &ev.CorrectedByEventId, &ev.EscortCodes}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	if len(ev.EscortCodes) == 0 {
		ev.EscortCodes = nil
	}
	ev.Type = sinergiv1.CustodyEventType(enumValue(sinergiv1.CustodyEventType_value, "CUSTODY_EVENT_TYPE_", typ))
	if reason != "" {
		ev.ReleaseReason = sinergiv1.ReleaseReason(enumValue(sinergiv1.ReleaseReason_value, "RELEASE_REASON_", reason))
	}
	ev.StatusAfter = custodyStatusOf(after)
	ev.EffectiveTime, ev.RecordTime = timestamppb.New(eff), timestamppb.New(recorded)
	return ev, nil
}

// RecordCustodyEvent appends ev to facility's record (by id, else by
// register number) and moves the record's status to what decide says, in
// one transaction that also NOTIFYs the watchers and commits the audit
// record. decide sees the record locked; its error (a *PreconditionError
// for an impossible transition) is returned as is.
//
// With an idempotency key, the facility's event under that key is given
// back (replayed) when its content hash is hash, and ErrConflict when it
// is not. A CORRECTION voids the event it names (decide has checked which)
// and sets the record's status, times and admission from the events left
// in force.
func (s *Store) RecordCustodyEvent(ctx context.Context, hook SubjectTxHook, facility, facilityKind, recordID, registerNumber string,
	ev *sinergiv1.CustodyEvent, key string, hash []byte, now time.Time, decide func(CustodyState) (sinergiv1.CustodyStatus, error),
) (outEv *sinergiv1.CustodyEvent, outRec *sinergiv1.CustodyRecord, replayed bool, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var st CustodyState
		var status string
		var row pgx.Row
		if recordID != "" {
			row = tx.QueryRow(ctx, `SELECT id::text, register_number, status, last_event_time FROM custody_records
				WHERE id = $1 AND facility_code = $2 FOR UPDATE`, recordID, facility)
		} else {
			row = tx.QueryRow(ctx, `SELECT id::text, register_number, status, last_event_time FROM custody_records
				WHERE register_number = $1 AND facility_code = $2 FOR UPDATE`, registerNumber, facility)
		}
		err := row.Scan(&st.RecordID, &st.RegisterNumber, &status, &st.LastEventTime)
		switch {
		case errors.Is(err, pgx.ErrNoRows) && recordID == "" && ev.GetType() == sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_TRANSFER_IN:
			// Received without retyping: the record is made from the
			// origin's; the transition below checks the transfer out.
			if st.RecordID, err = receiveFromOrigin(ctx, tx, facility, facilityKind, registerNumber, ev, now); err != nil {
				return err
			}
			st.RegisterNumber, status = registerNumber, custodyRegistered
		case errors.Is(err, pgx.ErrNoRows):
			return ErrNotFound
		case err != nil:
			return err
		}
		st.Status = custodyStatusOf(status)
		if key != "" {
			var prevID int64
			var prevRecord string
			var prevHash []byte
			err := tx.QueryRow(ctx, `SELECT id, record_id::text, content_hash FROM custody_events WHERE facility_code = $1 AND idempotency_key = $2`,
				facility, key).Scan(&prevID, &prevRecord, &prevHash)
			switch {
			case err == nil && !bytes.Equal(prevHash, hash):
				return ErrConflict
			case err == nil:
				replayed = true
				if outEv, err = scanCustodyEvent(tx.QueryRow(ctx, `SELECT `+custodyEventColumns+` FROM custody_events e
					JOIN custody_records r ON r.id = e.record_id WHERE e.id = $1`, prevID)); err != nil {
					return err
				}
				if outRec, err = scanCustody(tx.QueryRow(ctx, `SELECT `+custodyColumns+` FROM custody_records r WHERE r.id = $1`, prevRecord)); err != nil {
					return err
				}
				hook.AddSubjects(CustodySubject(prevRecord))
				return hook.WriteTx(ctx, tx)
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
		}
		correction := ev.GetType() == sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_CORRECTION
		if correction {
			rows, err := tx.Query(ctx, `SELECT e.id, e.type, e.effective_time, e.status_after FROM custody_events e
				WHERE e.record_id = $1 AND e.type <> 'CORRECTION'
				  AND NOT EXISTS (SELECT 1 FROM custody_events x WHERE x.corrects_event_id = e.id)
				ORDER BY e.id`, st.RecordID)
			if err != nil {
				return err
			}
			st.InForce, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (EventInForce, error) {
				var e EventInForce
				var typ, after string
				err := r.Scan(&e.ID, &typ, &e.EffectiveTime, &after)
				e.Type = sinergiv1.CustodyEventType(enumValue(sinergiv1.CustodyEventType_value, "CUSTODY_EVENT_TYPE_", typ))
				e.StatusAfter = custodyStatusOf(after)
				return e, err
			})
			if err != nil {
				return err
			}
		}
		var counterpartEvent *int64
		if ev.GetType() == sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_TRANSFER_IN {
			o := &TransferOrigin{}
			var ostatus string
			var dest *string
			var eff *time.Time
			var eventID *int64
			err := tx.QueryRow(ctx, `
				SELECT r.id::text, r.status, e.id, e.counterpart_facility_code, e.effective_time,
				       EXISTS (SELECT 1 FROM custody_events x WHERE x.counterpart_event_id = e.id AND x.type = 'TRANSFER_IN')
				FROM custody_records r
				LEFT JOIN LATERAL (SELECT * FROM custody_events e WHERE e.record_id = r.id AND e.type = 'TRANSFER_OUT'
				                   ORDER BY e.id DESC LIMIT 1) e ON true
				WHERE r.facility_code = $1 AND r.register_number = $2
				FOR UPDATE OF r`, ev.GetCounterpartFacilityCode(), ev.GetCounterpartRegisterNumber()).
				Scan(&o.RecordID, &ostatus, &eventID, &dest, &eff, &o.Received)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				o = nil
			case err != nil:
				return err
			default:
				o.Status = custodyStatusOf(ostatus)
				if eventID != nil {
					o.EventID, o.Destination, o.EffectiveTime = *eventID, *dest, *eff
					counterpartEvent = eventID
				}
			}
			st.Origin = o
		}
		next, err := decide(st)
		if err != nil {
			return err
		}
		var reason string
		if ev.GetType() == sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_RELEASE {
			reason = enumText(ev.GetReleaseReason().String(), "RELEASE_REASON_")
		}
		eff := ev.GetEffectiveTime().AsTime()
		var eventID int64
		var corrects *int64
		if correction {
			id := ev.GetCorrectsEventId()
			corrects = &id
		}
		err = tx.QueryRow(ctx, `INSERT INTO custody_events (record_id, facility_code, type, effective_time, release_reason, release_note,
				counterpart_facility_code, counterpart_register_number, counterpart_event_id, status_after, record_time,
				idempotency_key, content_hash, corrects_event_id, correction_reason, escort_codes)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id`,
			st.RecordID, facility, eventTypeText(ev.GetType()), eff, reason, ev.GetReleaseNote(),
			ev.GetCounterpartFacilityCode(), ev.GetCounterpartRegisterNumber(), counterpartEvent, custodyStatusText(next), now,
			custodyOptText(key), hashOrNil(key, hash), corrects, ev.GetCorrectionReason(), nonNil(ev.GetEscortCodes())).Scan(&eventID)
		switch {
		case isUniqueViolationOf(err, "custody_events_transfer_in"):
			return &PreconditionError{Reason: "that transfer out has already been received by a transfer in"}
		case isUniqueViolationOf(err, "custody_events_idempotency"):
			return ErrConflict
		case isUniqueViolationOf(err, "custody_events_correction"):
			return &PreconditionError{Reason: "that event has already been corrected"}
		case err != nil:
			return err
		}
		if correction {
			// The status, its time and the admission follow the events left in force.
			var statusTime, heldSince *time.Time
			for _, e := range st.InForce[:len(st.InForce)-1] {
				t := e.EffectiveTime
				statusTime = &t
				if admits(e.Type) {
					heldSince = &t
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE custody_records SET status = $2, status_time = $3, held_since = $4, last_event_time = $3,
					update_time = $5 WHERE id = $1`, st.RecordID, custodyStatusText(next), statusTime, heldSince, now); err != nil {
				return err
			}
		} else if _, err := tx.Exec(ctx, `UPDATE custody_records SET
				status = $2,
				status_time = CASE WHEN status <> $2 OR $3 THEN $4 ELSE status_time END,
				held_since = CASE WHEN $3 THEN $4 ELSE held_since END,
				last_event_time = $4, update_time = $5
			WHERE id = $1`, st.RecordID, custodyStatusText(next), admits(ev.GetType()), eff, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, CustodyChannel); err != nil {
			return err
		}
		if outEv, err = scanCustodyEvent(tx.QueryRow(ctx, `SELECT `+custodyEventColumns+` FROM custody_events e JOIN custody_records r ON r.id = e.record_id
			WHERE e.id = $1`, eventID)); err != nil {
			return err
		}
		if outRec, err = scanCustody(tx.QueryRow(ctx, `SELECT `+custodyColumns+` FROM custody_records r WHERE r.id = $1`, st.RecordID)); err != nil {
			return err
		}
		hook.AddSubjects(CustodySubject(st.RecordID))
		return hook.WriteTx(ctx, tx)
	})
	return outEv, outRec, replayed, err
}

// errNoTransferToReceive is the one answer for a transfer in the origin
// does not back, whatever the origin holds: a transfer in cannot probe
// another facility's records.
var errNoTransferToReceive = &PreconditionError{Reason: "cannot record transfer in: the facility of origin has no transfer out of that register number to this facility awaiting receipt"}

// receiveFromOrigin makes facility's record registerNumber from the
// origin's record that ev names (identity, legal status, case, risk flags,
// photo hash), REGISTERED until the transfer in is recorded.
func receiveFromOrigin(ctx context.Context, tx pgx.Tx, facility, facilityKind, registerNumber string, ev *sinergiv1.CustodyEvent, now time.Time) (string, error) {
	if err := lockFacilityRecords(ctx, tx, facility); err != nil {
		return "", err
	}
	cols := strings.Join(custodyContentColumns, ", ")
	var id string
	err := tx.QueryRow(ctx, `INSERT INTO custody_records (facility_code, facility_kind, register_number, `+cols+`, status, create_time, update_time)
		SELECT $1, $2, $3, `+cols+`, 'REGISTERED', $4, $4 FROM custody_records
		WHERE facility_code = $5 AND register_number = $6 AND status = 'TRANSFERRED_OUT'
		RETURNING id::text`, facility, facilityKind, registerNumber, now, ev.GetCounterpartFacilityCode(), ev.GetCounterpartRegisterNumber()).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", errNoTransferToReceive
	}
	return id, err
}

// IncomingTransfer is a person transferred out to a facility and not yet
// received: the origin's record and its transfer out.
type IncomingTransfer struct {
	Record *sinergiv1.CustodyRecord
	Event  *sinergiv1.CustodyEvent
}

// ListIncomingTransfers returns up to limit people transferred out to
// facility and not received, by the transfer out's id after afterID: each
// record's latest transfer out, in force (not corrected), with the record
// still transferred out and no transfer in completing it.
func (s *Store) ListIncomingTransfers(ctx context.Context, facility string, afterID int64, limit int) ([]IncomingTransfer, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+custodyEventColumns+` FROM custody_events e
		JOIN custody_records r ON r.id = e.record_id
		WHERE e.type = 'TRANSFER_OUT' AND e.counterpart_facility_code = $1 AND e.id > $2 AND r.status = 'TRANSFERRED_OUT'
		  AND e.id = (SELECT max(y.id) FROM custody_events y WHERE y.record_id = r.id AND y.type = 'TRANSFER_OUT')
		  AND NOT EXISTS (SELECT 1 FROM custody_events x WHERE x.counterpart_event_id = e.id AND x.type = 'TRANSFER_IN')
		  AND NOT EXISTS (SELECT 1 FROM custody_events c WHERE c.corrects_event_id = e.id)
		ORDER BY e.id LIMIT $3`, facility, afterID, limit)
	if err != nil {
		return nil, err
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sinergiv1.CustodyEvent, error) { return scanCustodyEvent(r) })
	if err != nil || len(events) == 0 {
		return nil, err
	}
	ids := make([]string, len(events))
	for i, ev := range events {
		ids[i] = ev.GetRecordId()
	}
	rows, err = s.Pool.Query(ctx, `SELECT `+custodyColumns+` FROM custody_records r WHERE r.id = ANY($1::uuid[])`, ids)
	if err != nil {
		return nil, err
	}
	recs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sinergiv1.CustodyRecord, error) { return scanCustody(r) })
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*sinergiv1.CustodyRecord, len(recs))
	for _, r := range recs {
		byID[r.GetId()] = r
	}
	out := make([]IncomingTransfer, 0, len(events))
	for _, ev := range events {
		out = append(out, IncomingTransfer{Record: byID[ev.GetRecordId()], Event: ev})
	}
	return out, nil
}

// TransferSuccessors maps the records a person was received under after
// leaving each of records (transfer in completing a transfer out, one
// facility after another) to the record of records they come from.
func (s *Store) TransferSuccessors(ctx context.Context, records []string) (map[string]string, error) {
	rows, err := s.Pool.Query(ctx, `WITH RECURSIVE chain (origin, rec) AS (
			SELECT w, w FROM unnest($1::uuid[]) AS w
			UNION
			SELECT c.origin, i.record_id FROM chain c
			JOIN custody_events o ON o.record_id = c.rec AND o.type = 'TRANSFER_OUT'
			JOIN custody_events i ON i.counterpart_event_id = o.id AND i.type = 'TRANSFER_IN'
		) SELECT origin::text, rec::text FROM chain WHERE rec <> origin`, records)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var origin, rec string
		if err := rows.Scan(&origin, &rec); err != nil {
			return nil, err
		}
		out[rec] = origin
	}
	return out, rows.Err()
}

// hashOrNil is an event's content hash as stored: only with a key.
func hashOrNil(key string, hash []byte) any {
	if key == "" {
		return nil
	}
	return hash
}

// ListCustodyEvents returns record id's events after event afterID, oldest
// first, if rs admits the record; otherwise ErrNotFound.
func (s *Store) ListCustodyEvents(ctx context.Context, rs *restrict.Restriction, recordID string, afterID int64, limit int) ([]*sinergiv1.CustodyEvent, error) {
	if _, err := s.CustodyRecordFacility(ctx, rs, recordID); err != nil {
		return nil, err
	}
	args := []any{recordID, afterID, limit}
	rows, err := s.Pool.Query(ctx, `SELECT `+custodyEventColumns+` FROM custody_events e JOIN custody_records r ON r.id = e.record_id
		WHERE e.record_id = $1 AND e.id > $2 AND `+custodyCond(rs, custodyByRecord, &args)+`
		ORDER BY e.id LIMIT $3`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*sinergiv1.CustodyEvent
	for rows.Next() {
		ev, err := scanCustodyEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// EventPosition is a place in the order watchers read events in: the
// position custody_event_order gives an event once its transaction has
// committed (CustodyEventPasses).
type EventPosition struct {
	Seq int64 `json:"o"`
	// V is the cursor's form: positions of the (txid, id) order that came
	// before are not positions of this one.
	V int `json:"v"`
}

// eventPositionForm is EventPosition's V.
const eventPositionForm = 2

// Valid reports whether p is a position of this order (a cursor of an
// older form is not).
func (p EventPosition) Valid() bool { return p.V == eventPositionForm && p.Seq >= 0 }

// SettledEvent is an event as watchers receive it, with who it is about.
type SettledEvent struct {
	Position EventPosition
	Event    *sinergiv1.CustodyEvent
	// The record's identity now: full name, NIK, birth date, sex.
	Subject *sinergiv1.Identity
	Child   bool
}

// CustodyOrderedChannel is NOTIFYed when events have been given their
// positions: watchers wake on it.
const CustodyOrderedChannel = "sinergi_custody_ordered"

// CustodyRecordsByNIK returns the ids of the records held under any of niks.
func (s *Store) CustodyRecordsByNIK(ctx context.Context, niks []string) ([]string, error) {
	if len(niks) == 0 {
		return nil, nil
	}
	rows, err := s.Pool.Query(ctx, `SELECT id::text FROM custody_records WHERE nik = ANY($1::text[])`, niks)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// CustodyEventsHead is the position of "now": events ordered after it are
// read, those before are not.
func (s *Store) CustodyEventsHead(ctx context.Context) (EventPosition, error) {
	p := EventPosition{V: eventPositionForm}
	err := s.Pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM custody_event_order`).Scan(&p.Seq)
	return p, err
}

// EventFilter says which events of a window a watcher reads: those of
// its facilities, and those of Types about its Records (All: every one).
// It is a superset of what the watcher is told; the watcher decides the rest.
type EventFilter struct {
	All        bool
	Facilities []string
	Types      []string
	Records    []string
	// NIKPrefix, when set: releases of people whose NIK starts with it.
	NIKPrefix string
	// Escort, when set: transfers out that name it among their escorts.
	Escort string
}

// CustodyEventsAfter returns the events ordered in (pos, upto] that f
// admits, in order. Positions are given only to committed events, densely
// and in passes that commit one after another, so they appear in order
// and without gaps: a reader that has read up to a position never skips
// an event before it, never reads one twice, and never waits for a
// transaction that wrote no event.
func (s *Store) CustodyEventsAfter(ctx context.Context, pos EventPosition, upto int64, f EventFilter) ([]SettledEvent, error) {
	// Planned for its own window (pgx.QueryExecModeExec: an unnamed
	// statement, planned with its values): a cached generic plan cannot
	// see how narrow the window is, and with the order's statistics stale
	// (after a load, before autovacuum analyzes it) scanned the whole order
	// for every tail refresh: 37-160 ms a read instead of about one.
	rows, err := s.Pool.Query(ctx, `SELECT `+custodyEventColumns+`, o.seq, r.full_name, coalesce(r.nik, ''), r.birth_date, r.sex, r.child
		FROM custody_event_order o JOIN custody_events e ON e.id = o.event_id JOIN custody_records r ON r.id = e.record_id
		WHERE o.seq > $1 AND o.seq <= $2
		  AND ($3 OR o.facility_code = ANY($4::text[]) OR (o.type = ANY($5::text[]) AND o.record_id = ANY($6::uuid[]))
		       OR (o.type = 'TRANSFER_OUT' AND e.counterpart_facility_code = ANY($4::text[]))
		       OR ($7 <> '' AND o.type = 'RELEASE' AND r.nik LIKE $7 || '%')
		       OR ($8 <> '' AND o.type = 'TRANSFER_OUT' AND $8 = ANY(e.escort_codes)))
		ORDER BY o.seq`, pgx.QueryExecModeExec, pos.Seq, upto, f.All, nonNil(f.Facilities), nonNil(f.Types), nonNil(f.Records), f.NIKPrefix, f.Escort)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SettledEvent
	for rows.Next() {
		se := SettledEvent{Position: EventPosition{V: eventPositionForm}}
		id := &sinergiv1.Identity{}
		var birth pgtype.Date
		var sex string
		ev, err := scanCustodyEvent(rows, &se.Position.Seq, &id.FullName, &id.Nik, &birth, &sex, &se.Child)
		if err != nil {
			return nil, err
		}
		id.BirthDate = dateText(birth)
		if sex != "" {
			id.Sex = sinergiv1.Sex(enumValue(sinergiv1.Sex_value, "SEX_", sex))
		}
		se.Event, se.Subject = ev, id
		out = append(out, se)
	}
	return out, rows.Err()
}

// CustodyEventPasses orders custody events for watchers: the one
// sequencer of a process makes its passes with it (Pass).
//
// A pass gives the next positions to events whose transactions have
// committed, in one transaction on db (the sequencer's leader connection),
// and wakes the watchers. It returns how many it ordered. It waits for no
// other transaction: an event whose transaction is still open is not
// queued yet, and is ordered by a later pass.
//
// The queue has two lanes (migration 00072): up to limit fast events
// (those of statements that inserted few) are ordered first, then up to
// limit/BulkShare bulk ones (a roster merge's admissions), so that a
// single call's event never waits behind a merge's hundred thousand. A
// fast event whose record has an earlier bulk event still queued waits
// for it: one person's events keep their commit order. The bulk slice is
// small so that a pass, and the watchers' read of what it ordered, stays
// short while a merge drains: a call's event committed meanwhile goes with
// the next pass. While the fast lane is full the pass orders no bulk
// event: a fast event it leaves may be an earlier event of a bulk one's
// record. When either lane was full, the pass returns at least limit:
// more may be waiting.
//
// The bulk lane is read on from the last bulk event ordered. The queue's
// rows are deleted as they are ordered, and an index scan from the lane's
// start walks over every deleted entry until VACUUM removes them: while a
// 300 000-admission load drained, that read grew from 122 to 770 buffers
// (0.5 to 6 ms) and each pass cost 5-11 ms of the database, a core's
// worth for the whole drain, beside every other call. Read from the last
// one ordered, it reads its slice alone.
//
// A bulk transaction that committed late, with ids below that point, is
// not seen by those reads: every FullEvery-th pass, and the pass after one
// that found the lane dry past the point, reads from the start again.
// While a record has such a late event queued, its later bulk events are
// not taken from past the point either: one person's events keep their
// order.
type CustodyEventPasses struct {
	from   int64
	passes int
}

// FullEvery is how often (in passes) CustodyEventPasses reads the bulk
// lane from its start.
const FullEvery = 64

// Pass orders the next events (see CustodyEventPasses).
func (p *CustodyEventPasses) Pass(ctx context.Context, db DB, limit int) (int, error) {
	from := p.from
	if p.passes%FullEvery == 0 {
		from = 0
	}
	p.passes++
	n, last, err := sequenceCustodyEvents(ctx, db, limit, from)
	switch {
	case err != nil:
		p.from = 0
	case last > 0:
		p.from = last // the bulk slice was full: read on from there
	default:
		p.from = 0
		if from > 0 {
			// Dry past the point: what committed late below it is
			// read by the next pass, at once.
			n = max(n, limit)
		}
	}
	return n, err
}

// sequenceCustodyEvents orders up to limit fast events and a bulk slice
// of events after from (see CustodyEventPasses), and returns how many it
// ordered and, when the bulk slice was full, the last bulk event id.
func sequenceCustodyEvents(ctx context.Context, db DB, limit int, from int64) (int, int64, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	bulkLimit := max(limit/BulkShare, 1)
	var n, fastN, bulkN int
	var bulkLast int64
	err = tx.QueryRow(ctx, `
		WITH fast AS (
			SELECT f.event_id, 0 AS lane FROM custody_event_queue f
			WHERE NOT f.bulk
			  AND NOT EXISTS (SELECT 1 FROM custody_event_queue b WHERE b.bulk AND b.record_id = f.record_id AND b.event_id < f.event_id)
			ORDER BY f.event_id LIMIT $1
		), slow AS (
			SELECT s.event_id, 1 AS lane FROM custody_event_queue s
			WHERE s.bulk AND s.event_id > $3
			  AND NOT EXISTS (SELECT 1 FROM custody_event_queue b WHERE b.bulk AND b.record_id = s.record_id AND b.event_id <= $3)
			ORDER BY s.event_id
			-- No bulk slice while the fast lane is full: a fast event left
			-- for the next pass may be an earlier event of a bulk one's
			-- record.
			LIMIT CASE WHEN (SELECT count(*) FROM fast) >= $1 THEN 0 ELSE $2 END
		), pick AS (
			SELECT * FROM fast UNION ALL SELECT * FROM slow
		), q AS (
			DELETE FROM custody_event_queue WHERE event_id IN (SELECT event_id FROM pick)
			RETURNING event_id
		), base AS (SELECT coalesce(max(seq), 0) AS s FROM custody_event_order
		), ins AS (
			INSERT INTO custody_event_order (seq, event_id, facility_code, record_id, type)
			SELECT base.s + row_number() OVER (ORDER BY p.lane, q.event_id), q.event_id, e.facility_code, e.record_id, e.type
			FROM q JOIN pick p ON p.event_id = q.event_id JOIN custody_events e ON e.id = q.event_id, base
			RETURNING 1)
		SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM pick WHERE lane = 0), (SELECT count(*) FROM pick WHERE lane = 1),
			(SELECT coalesce(max(event_id), 0) FROM pick WHERE lane = 1)`,
		limit, bulkLimit, from).Scan(&n, &fastN, &bulkN, &bulkLast)
	if err != nil {
		return 0, 0, err
	}
	if n == 0 {
		return 0, 0, nil
	}
	if bulkN < bulkLimit {
		bulkLast = 0
	}
	if fastN >= limit || bulkN >= bulkLimit {
		n = max(n, limit)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, CustodyOrderedChannel); err != nil {
		return 0, 0, err
	}
	return n, bulkLast, tx.Commit(ctx)
}

// BulkShare is how much smaller a pass's bulk slice is than its fast one.
const BulkShare = 10
