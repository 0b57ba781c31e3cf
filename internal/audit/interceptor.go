package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sinergi-id/sinergi/internal/requestid"
	"github.com/sinergi-id/sinergi/internal/store"
)

// errUnavailable is what a caller gets when its call's audit record could
// not be committed: nothing else, not the data, not the handler's answer.
var errUnavailable = status.Error(codes.Unavailable, "audit trail unavailable: the call was not carried out or its result withheld; retry later")

// Recorder writes the audit record of every call: allowed or refused,
// successful or failed. It sits outside authentication so that refused
// callers are recorded too. Calls that end before they reach it (a
// request too large to receive) are recorded by its stats handler.
type Recorder struct {
	Writer *Writer
	// Log says why a record could not be written (the caller is told only
	// that the trail is unavailable).
	Log *slog.Logger
	// failures is when a write failure was last logged.
	failures atomic.Int64
	// Unrecorded names the methods that are not recorded: health probes,
	// which carry no data, name no one, and come every few seconds from
	// every load balancer (README, "The audit trail").
	Unrecorded func(method string) bool
}

// skip reports whether method is not recorded, marking the call as seen.
func (r *Recorder) skip(ctx context.Context, method string) bool {
	if r.Unrecorded == nil || !r.Unrecorded(method) {
		return false
	}
	if m, ok := ctx.Value(markKey{}).(*mark); ok {
		m.reached.Store(true)
	}
	return true
}

// failed logs that a record could not be written, at most once a second.
func (r *Recorder) failed(ctx context.Context, method string, err error) {
	now := time.Now().UnixNano()
	last := r.failures.Load()
	if r.Log == nil || now-last < int64(time.Second) || !r.failures.CompareAndSwap(last, now) {
		return
	}
	r.Log.ErrorContext(ctx, "audit record not written: the call fails closed", "method", method, "error", err.Error())
}

// entry starts the record of a call that has reached the interceptor.
func (r *Recorder) entry(ctx context.Context, method string) *Entry {
	if m, ok := ctx.Value(markKey{}).(*mark); ok {
		m.reached.Store(true)
	}
	e := NewEntry(method, requestid.FromContext(ctx), time.Now())
	e.sealer = r.Writer.Sealer()
	return e
}

func (r *Recorder) finish(ctx context.Context, e *Entry, err error) error {
	code := status.Code(err)
	if e.writtenInTx() {
		if code == codes.OK {
			return nil
		}
		// The write's transaction carried a record of success; the call
		// failed after it, at the commit or later. Should that commit have
		// landed, this record says the caller was not told.
		e.mu.Lock()
		id := e.recordID
		e.mu.Unlock()
		e.Ended(fmt.Sprintf("the call failed after its write's transaction carried record %d of its success: the caller was answered %s; if record %d is in the trail, the write was applied but the caller was not told", id, code, id))
	}
	if err != nil {
		switch code {
		case codes.Unauthenticated, codes.PermissionDenied, codes.InvalidArgument:
			e.mu.Lock()
			if e.rec.Decision == "" {
				e.rec.Decision, e.rec.Reason = Refused, code.String()
			}
			e.mu.Unlock()
		}
	}
	// The record is written even when the caller has gone away.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if aerr := r.Writer.Append(wctx, e.finish(code.String())); aerr != nil {
		r.failed(ctx, e.rec.Method, aerr)
		return errUnavailable
	}
	return nil
}

// UnaryServerInterceptor records unary calls. The reply leaves only after
// its audit record has committed.
func (r *Recorder) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if r.skip(ctx, info.FullMethod) {
			return handler(ctx, req)
		}
		e := r.entry(ctx, info.FullMethod)
		ctx = NewContext(ctx, e)
		resp, err := handler(ctx, req)
		var aerr *Error
		if errors.As(err, &aerr) {
			err = errUnavailable
		}
		if ferr := r.finish(ctx, e, err); ferr != nil {
			return nil, ferr
		}
		if err != nil {
			return nil, err
		}
		return resp, nil
	}
}

// StreamServerInterceptor records a stream when it ends. Handlers of
// streams that deliver personal data record each delivery themselves
// (Entry.Derive and Recorder.Deliver) before sending it.
func (r *Recorder) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if r.skip(ss.Context(), info.FullMethod) {
			return handler(srv, ss)
		}
		e := r.entry(ss.Context(), info.FullMethod)
		ctx := NewContext(ss.Context(), e)
		ctx = context.WithValue(ctx, recorderKey{}, r)
		err := handler(srv, &requestid.Stream{ServerStream: ss, Ctx: ctx})
		var aerr *Error
		if errors.As(err, &aerr) {
			err = errUnavailable
		}
		if ferr := r.finish(ctx, e, err); ferr != nil {
			return ferr
		}
		return err
	}
}

type recorderKey struct{}

// Deliver commits the audit record of one delivery on a stream (derived
// from the stream's entry, with its own subjects and agreements) before the
// caller sends it. An error means: do not send.
func Deliver(ctx context.Context, d *Entry) error { return deliver(ctx, d, false) }

// DeliverLater is Deliver for a stream whose consumer is behind: its
// record may wait behind those of calls and live streams
// (Writer.AppendLater).
func DeliverLater(ctx context.Context, d *Entry) error { return deliver(ctx, d, true) }

func deliver(ctx context.Context, d *Entry, later bool) error {
	r, ok := ctx.Value(recorderKey{}).(*Recorder)
	if !ok {
		return errUnavailable
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	rec := d.finish(codes.OK.String())
	appendRec := r.Writer.Append
	if later {
		appendRec = r.Writer.AppendLater
	}
	if err := appendRec(wctx, rec); err != nil {
		r.failed(ctx, d.rec.Method, err)
		return errUnavailable
	}
	d.mu.Lock()
	d.recordID = rec.ID
	d.mu.Unlock()
	return nil
}

// groupSubjects bounds the subjects of one record of several deliveries:
// a delivery that would take a group past it starts the next record.
const groupSubjects = 512

// DeliverAll commits the audit records of deliveries ds, to be sent in
// this order on one stream, before the caller sends them (later: as
// DeliverLater). Consecutive deliveries recorded alike (the same caller,
// officer, purpose, case, decision, reason and agreements) share one
// record: it names each delivery's subjects in turn, a subject as many
// times as it was sent, and says how many deliveries it holds. A thousand
// streams catching up, or filling the buffers of consumers that do not
// read, then cost the trail a record per group rather than per message,
// and the writer's queue stays short for everyone else. An error means:
// send none of them.
func DeliverAll(ctx context.Context, ds []*Entry, later bool) error {
	if len(ds) == 1 {
		return deliver(ctx, ds[0], later)
	}
	r, ok := ctx.Value(recorderKey{}).(*Recorder)
	if !ok {
		return errUnavailable
	}
	type group struct {
		rec     *store.AuditRecord
		entries []*Entry
	}
	var groups []group
	for _, d := range ds {
		rec := d.finish(codes.OK.String())
		if n := len(groups); n > 0 {
			g := &groups[n-1]
			if alike(g.rec, rec) && len(g.rec.Subjects)+len(rec.Subjects) <= groupSubjects {
				g.rec.Subjects = append(g.rec.Subjects, rec.Subjects...)
				g.rec.LatencyMicros = max(g.rec.LatencyMicros, rec.LatencyMicros)
				g.rec.At = rec.At
				g.entries = append(g.entries, d)
				continue
			}
		}
		groups = append(groups, group{rec: rec, entries: []*Entry{d}})
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	recs := make([]*store.AuditRecord, len(groups))
	for i, g := range groups {
		if n := len(g.entries); n > 1 {
			g.rec.Reason += fmt.Sprintf("; %d deliveries in this record", n)
			Bound(g.rec)
		}
		recs[i] = g.rec
	}
	committed := make([]bool, len(recs))
	err := r.Writer.appendAll(wctx, recs, later, committed)
	// A delivery whose record committed knows it even when another's
	// failed: the stream's end record then names it as recorded but not
	// sent.
	for i, g := range groups {
		if !committed[i] {
			continue
		}
		for _, d := range g.entries {
			d.mu.Lock()
			d.recordID = g.rec.ID
			d.mu.Unlock()
		}
	}
	if err != nil {
		r.failed(ctx, recs[0].Method, err)
		return errUnavailable
	}
	return nil
}

// alike reports whether two delivery records differ only in their
// subjects, times and latency: they may be one record.
func alike(a, b *store.AuditRecord) bool {
	return a.RequestID == b.RequestID && a.CallerCode == b.CallerCode && a.CertificateSerial == b.CertificateSerial &&
		a.OperatorID == b.OperatorID && a.Method == b.Method && a.Purpose == b.Purpose && a.CaseReference == b.CaseReference &&
		a.Decision == b.Decision && a.Reason == b.Reason && a.StatusCode == b.StatusCode && slices.Equal(a.AgreementIDs, b.AgreementIDs)
}

// DeliveriesIn is how many deliveries a stream's delivery record holds
// (DeliverAll).
func DeliveriesIn(reason string) int {
	i := strings.LastIndex(reason, "; ")
	if i < 0 {
		return 1
	}
	var n int
	if _, err := fmt.Sscanf(reason[i:], "; %d deliveries in this record", &n); err != nil || n < 2 {
		return 1
	}
	return n
}

// RecordID is the id of the record Deliver wrote for d (0 before).
func (d *Entry) RecordID() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.recordID
}
