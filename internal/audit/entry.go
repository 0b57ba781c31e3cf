package audit

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sinergi-id/sinergi/internal/store"
)

// Decisions as stored.
const (
	Allowed = "ALLOWED"
	Refused = "REFUSED"
)

// Entry is the audit record of one call, filled in as the call goes through
// authentication, authorization and its handler.
type Entry struct {
	mu    sync.Mutex
	rec   store.AuditRecord
	start time.Time
	inTx  bool
	// recordID is the id of the delivery record Deliver wrote.
	recordID int64
	decided  bool
	// subjectOK has the subjects once there are many (a few are looked up
	// in rec.Subjects: a stream's deliveries each hold an entry, and a
	// thousand stalled watchers' queues are many entries).
	subjectOK map[string]bool
	// sealer seals the record when it is written in a transaction
	// (WriteTx); records written through the Writer are sealed there.
	sealer *Sealer
	// with are the writes attached to the record (Attach).
	with []store.Companion
}

type ctxKey struct{}

// NewEntry starts the record of a call to method that started at start.
// The record's time is the moment it is finished, on the wall clock (the
// database refuses a record whose time is not now).
func NewEntry(method, requestID string, start time.Time) *Entry {
	return &Entry{
		rec:   store.AuditRecord{Method: method, RequestID: requestID},
		start: start,
	}
}

// NewContext carries e.
func NewContext(ctx context.Context, e *Entry) context.Context {
	return context.WithValue(ctx, ctxKey{}, e)
}

// FromContext returns the call's entry. Outside a call it returns a
// detached entry, so callers never need to check for nil.
func FromContext(ctx context.Context) *Entry {
	if e, ok := ctx.Value(ctxKey{}).(*Entry); ok {
		return e
	}
	return NewEntry("", "", time.Now())
}

// SetCaller records the authenticated caller.
func (e *Entry) SetCaller(code, serial string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rec.CallerCode, e.rec.CertificateSerial = code, serial
}

// SetSerial records the certificate serial of a caller not (yet) identified.
func (e *Entry) SetSerial(serial string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rec.CertificateSerial = serial
}

// SetAccess records the officer, purpose and case of a personal-data call.
func (e *Entry) SetAccess(operatorID, purpose, caseReference string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rec.OperatorID, e.rec.Purpose, e.rec.CaseReference = operatorID, purpose, caseReference
}

// Refuse records that the call was refused, and why.
func (e *Entry) Refuse(reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rec.Decision, e.rec.Reason, e.decided = Refused, reason, true
}

// Allow records that the call was let through, and why.
func (e *Entry) Allow(reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.decided {
		e.rec.Decision, e.rec.Reason, e.decided = Allowed, reason, true
	}
}

// AddAgreements records agreements that granted access.
func (e *Entry) AddAgreements(ids ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range ids {
		if !slices.Contains(e.rec.AgreementIDs, id) {
			e.rec.AgreementIDs = append(e.rec.AgreementIDs, id)
		}
	}
}

// AddSubjects records records or reports returned or changed, as "kind/id".
func (e *Entry) AddSubjects(subjects ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range subjects {
		switch {
		case e.subjectOK != nil:
			if e.subjectOK[s] {
				continue
			}
			e.subjectOK[s] = true
		case slices.Contains(e.rec.Subjects, s):
			continue
		case len(e.rec.Subjects) >= fewSubjects:
			e.subjectOK = make(map[string]bool, 2*fewSubjects)
			for _, x := range e.rec.Subjects {
				e.subjectOK[x] = true
			}
			e.subjectOK[s] = true
		}
		e.rec.Subjects = append(e.rec.Subjects, s)
	}
}

// fewSubjects is how many subjects an entry looks through before it keeps
// them in a map.
const fewSubjects = 16

// Subjects returns the subjects recorded so far, in the order they came.
func (e *Entry) Subjects() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.rec.Subjects)
}

// Purpose returns the recorded purpose.
func (e *Entry) Purpose() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rec.Purpose
}

// finish returns a copy of the record as it stands, finished now with
// status code and latency, bounded as the trail keeps it.
func (e *Entry) finish(code string) *store.AuditRecord {
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.rec
	r.At = now.Truncate(time.Microsecond)
	r.AgreementIDs = slices.Clone(e.rec.AgreementIDs)
	r.Subjects = slices.Clone(e.rec.Subjects)
	r.StatusCode = code
	r.With = nil
	if code == "OK" {
		r.With = slices.Clone(e.with)
	}
	if lat := now.Sub(e.start).Microseconds(); lat > 0 {
		r.LatencyMicros = lat
	}
	if r.Decision == "" {
		r.Decision = Allowed
	}
	Bound(&r)
	return &r
}

// Derive starts a new entry for a separate event of the same call (a
// delivery on a stream): same caller, request id and access, no subjects.
func (e *Entry) Derive(now time.Time) *Entry {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := NewEntry(e.rec.Method, e.rec.RequestID, now)
	d.sealer = e.sealer
	d.rec.CallerCode, d.rec.CertificateSerial = e.rec.CallerCode, e.rec.CertificateSerial
	d.rec.OperatorID, d.rec.Purpose, d.rec.CaseReference = e.rec.OperatorID, e.rec.Purpose, e.rec.CaseReference
	d.rec.Decision, d.rec.Reason, d.decided = e.rec.Decision, e.rec.Reason, e.decided
	return d
}

// Attach makes write c commit with the call's record, in the writer's
// batch, if the call ends OK; if it does not, c is never applied. The
// reply leaves only once the batch has committed, so what the reply
// hands out (a hit reference) exists by then. A record carrying writes
// cannot also be written in a transaction of its own (WriteTx).
func (e *Entry) Attach(c store.Companion) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.with = append(e.with, c)
}

// attached reports whether writes are attached to the record.
func (e *Entry) attached() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.with) > 0
}

// errAttached refuses to write in a transaction a record that carries writes.
var errAttached = &Error{Err: errors.New("audit entry carries writes of its own: it cannot be written in a transaction")}

// WriteTx writes the record inside a write's own transaction, as status OK:
// if the transaction commits, the write succeeded and its record with it.
// It makes Entry a store.TxHook.
func (e *Entry) WriteTx(ctx context.Context, tx pgx.Tx) error {
	if e.attached() {
		return errAttached
	}
	rec := e.finish("OK")
	if e.sealer == nil {
		return &Error{Err: errors.New("audit entry has no sealer: it cannot be written in a transaction")}
	}
	if err := e.sealer.SealOn(ctx, tx, rec); err != nil {
		return &Error{Err: err}
	}
	if err := store.AppendAuditTx(ctx, tx, rec); err != nil {
		return &Error{Err: err}
	}
	e.mu.Lock()
	e.inTx, e.recordID = true, rec.ID
	e.mu.Unlock()
	return nil
}

func (e *Entry) writtenInTx() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inTx
}

// Error is a failure to write an audit record: the call must fail closed.
type Error struct{ Err error }

func (e *Error) Error() string { return "audit record not written: " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }
