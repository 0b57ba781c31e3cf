package authz

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authn"
	"github.com/sinergi-id/sinergi/internal/directory"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Recheck is what ends a streaming call while it is open. It is the one
// mechanism for every long-lived call: the authorization interceptor wraps
// every stream in a watch that re-evaluates the caller when the directory
// changes (authn's cache follows the database within a second, see
// directory.Cache), every recheckEvery, at the certificate's expiry, and
// before every message the stream sends; when the caller no longer stands
// it cancels the handler's context with the cause and the stream ends with
// that cause's status (StreamEnd). Every streaming method declares its
// level in the policy table; one that does not is refused (fail closed).
type Recheck int

// Recheck levels; each includes the ones before it.
const (
	// RecheckUnset: no recheck declared. A streaming method with it is refused.
	RecheckUnset Recheck = iota
	// RecheckCertificate: the caller's certificate is revoked or expires
	// (public streams: health Watch).
	RecheckCertificate
	// RecheckInstitution: and the caller's institution is suspended or removed.
	RecheckInstitution
	// RecheckAgreements: and an agreement that granted the stream's data
	// (behind its reach when it was authorized) ends: revoked, expired, or
	// changed so that it no longer grants the caller anything.
	RecheckAgreements
)

// recheckEvery is how often an open stream is re-evaluated when nothing
// woke it sooner (a clock moved, an agreement expired).
const recheckEvery = 500 * time.Millisecond

// StreamEnd is why a stream was ended by its recheck, and the stream's final
// status: its code, and an ErrorInfo detail (domain sinergi.v1) whose reason
// names the cause.
type StreamEnd struct {
	Code     codes.Code
	Reason   string
	Message  string
	Metadata map[string]string
}

func (e *StreamEnd) Error() string { return e.Message }

// GRPCStatus makes a StreamEnd a gRPC status.
func (e *StreamEnd) GRPCStatus() *status.Status {
	st := status.New(e.Code, e.Message)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: e.Reason, Domain: "sinergi.v1", Metadata: e.Metadata}); err == nil {
		return d
	}
	return st
}

// The causes a stream ends for, one status code each (README, "Streams").
var (
	EndCertificateRevoked = &StreamEnd{Code: codes.Unauthenticated, Reason: "CERTIFICATE_REVOKED",
		Message: "stream ended: the client certificate was revoked"}
	EndCertificateExpired = &StreamEnd{Code: codes.Unauthenticated, Reason: "CERTIFICATE_EXPIRED",
		Message: "stream ended: the client certificate expired"}
	EndInstitutionSuspended = &StreamEnd{Code: codes.PermissionDenied, Reason: "INSTITUTION_SUSPENDED",
		Message: "stream ended: the institution is no longer active"}
	EndAgreementEnded = &StreamEnd{Code: codes.Aborted, Reason: "AGREEMENT_ENDED",
		Message: "stream ended: an agreement that granted its data no longer does; open it again to receive what the agreements in force grant"}
)

// StreamEnds lists every cause.
var StreamEnds = []*StreamEnd{EndCertificateRevoked, EndCertificateExpired, EndInstitutionSuspended, EndAgreementEnded}

func agreementEnded(id string) *StreamEnd {
	e := *EndAgreementEnded
	e.Metadata = map[string]string{"agreement_id": id}
	return &e
}

// watch is one stream's recheck.
type watch struct {
	a      *Authorizer
	method string
	level  Recheck
	serial string
	expiry time.Time
	code   string
	scopes []sinergiv1.Scope
	// scopesKey names scopes in the memo of agreementsBehind.
	scopesKey string
	cancel    context.CancelCauseFunc

	mu      sync.Mutex
	granted []string // agreements behind the reach the stream was authorized with
	armed   bool
	checked atomic.Pointer[directory.Snapshot]
	ended   atomic.Pointer[StreamEnd]
}

type watchKey struct{}

// StreamStanding re-evaluates the stream of ctx now and returns its end if
// the caller no longer stands. Handlers call it before preparing a
// delivery, so that nothing is audited as delivered that the stream will
// not send; the watch would end the stream regardless.
func StreamStanding(ctx context.Context) error {
	if w, ok := ctx.Value(watchKey{}).(*watch); ok {
		if end := w.check(); end != nil {
			return end
		}
	}
	return nil
}

// OpenStreams is how many streams of method are open under their recheck.
func (a *Authorizer) OpenStreams(method string) int64 {
	if n, ok := a.open.Load(method); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

// StartedStreams is how many streams of method have been started under
// their recheck since the process began.
func (a *Authorizer) StartedStreams(method string) int64 {
	if n, ok := a.started.Load(method); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

func (a *Authorizer) opened(method string, d int64) {
	n, _ := a.open.LoadOrStore(method, new(atomic.Int64))
	n.(*atomic.Int64).Add(d)
	if d > 0 {
		n, _ := a.started.LoadOrStore(method, new(atomic.Int64))
		n.(*atomic.Int64).Add(d)
	}
	if a.Streams != nil {
		a.Streams.WithLabelValues(method).Add(float64(d))
	}
}

// startWatch begins the recheck of a stream at level.
func (a *Authorizer) startWatch(ctx context.Context, method string, rule Rule) (*watch, context.Context, error) {
	w := &watch{a: a, method: method, level: rule.Stream, scopes: rule.Scopes, scopesKey: fmt.Sprint(rule.Scopes)}
	if c, ok := authn.FromContext(ctx); ok {
		w.serial, w.expiry, w.code = c.Serial, c.NotAfter, c.Institution.GetCode()
	} else if id := authn.PeerIdentity(ctx); id != nil && rule.Public {
		// A public stream has no institution, but a certificate all the same.
		w.serial, w.expiry, w.level = id.Serial, id.NotAfter, RecheckCertificate
	} else {
		audit.FromContext(ctx).Refuse("stream without a verified certificate")
		return nil, nil, status.Error(codes.Unauthenticated, "unauthenticated")
	}
	ctx, w.cancel = context.WithCancelCause(ctx)
	ctx = context.WithValue(ctx, watchKey{}, w)
	a.opened(method, 1)
	if w.check() == nil {
		a.track(w)
	}
	return w, ctx, nil
}

// arm records the agreements behind the reach the stream was authorized
// with (ctx is the call's context once the reach is computed).
func (w *watch) arm(ctx context.Context) {
	if w.level < RecheckAgreements {
		return
	}
	c, ok := authn.FromContext(ctx)
	if !ok {
		return
	}
	granted := agreementsBehind(c.Directory, c.Institution, w.scopes, w.scopesKey, w.a.Now())
	w.mu.Lock()
	for id := range granted {
		w.granted = append(w.granted, id)
	}
	w.armed = true
	w.mu.Unlock()
	w.check()
}

// agreementsBehind are the agreements that give in anything for one of
// scopes at t, within its jurisdiction or, for a watch list, beyond it.
// The set is the same throughout a term window of the snapshot, and is
// kept for it (as ComputeReach keeps reaches): a thousand open streams
// recheck twice a second each, and each would otherwise build it anew.
// The set returned must not be changed.
//
// scopesKey is fmt.Sprint(scopes), made once by the stream: made at every
// recheck, it was most of what a thousand idle streams allocated.
func agreementsBehind(snap *directory.Snapshot, in *sinergiv1.Institution, scopes []sinergiv1.Scope, scopesKey string, t time.Time) map[string]bool {
	key := behindKey{caller: in.GetCode(), scopes: scopesKey}
	return termMemo(snap, key, t, func() map[string]bool { return computeAgreementsBehind(snap, in, scopes, t) })
}

type behindKey struct{ caller, scopes string }

func computeAgreementsBehind(snap *directory.Snapshot, in *sinergiv1.Institution, scopes []sinergiv1.Scope, t time.Time) map[string]bool {
	out := map[string]bool{}
	for _, sc := range scopes {
		for _, opts := range []ReachOptions{{}, {IgnoreJurisdiction: true}} {
			for _, id := range ComputeReach(snap, in, sc, t, opts).Agreements() {
				out[id] = true
			}
		}
	}
	return out
}

// check evaluates the caller against the current directory and clocks and
// ends the stream if it no longer stands.
func (w *watch) check() *StreamEnd {
	if end := w.ended.Load(); end != nil {
		return end
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	snap := w.a.Directory.Snapshot()
	end := w.evaluate(snap, time.Now())
	w.checked.Store(snap)
	if end != nil && w.ended.CompareAndSwap(nil, end) {
		w.cancel(end)
	}
	return w.ended.Load()
}

// evaluate is the recheck itself. Certificates are judged by the wall
// clock, as the handshake judged them; agreements by the service's clock.
func (w *watch) evaluate(snap *directory.Snapshot, wall time.Time) *StreamEnd {
	switch {
	case snap.Revoked(w.serial):
		return EndCertificateRevoked
	case !wall.Before(w.expiry):
		return EndCertificateExpired
	}
	if w.level < RecheckInstitution {
		return nil
	}
	in := snap.Institution(w.code)
	if in == nil || in.GetStatus() != sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE {
		return EndInstitutionSuspended
	}
	if w.level < RecheckAgreements || !w.armed || len(w.granted) == 0 {
		return nil
	}
	now := agreementsBehind(snap, in, w.scopes, w.scopesKey, w.a.Now())
	for _, id := range w.granted {
		if !now[id] {
			return agreementEnded(id)
		}
	}
	return nil
}

// rechecks are the watches of a server's open streams, re-evaluated
// together by one goroutine while any is open: every recheckEvery, when
// the directory changes, and at the soonest certificate expiry. One loop
// for all, rather than a goroutine and two timers a stream: a thousand
// idle streams cost a thousand goroutines' stacks less.
type rechecks struct {
	mu      sync.Mutex
	watches map[*watch]struct{}
	running bool
}

// track adds w to the rechecked watches, starting the loop if it is not
// running.
func (a *Authorizer) track(w *watch) {
	r := &a.rechecks
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watches == nil {
		r.watches = map[*watch]struct{}{}
	}
	r.watches[w] = struct{}{}
	if !r.running {
		r.running = true
		go a.recheckLoop()
	}
}

// untrack removes w.
func (a *Authorizer) untrack(w *watch) {
	r := &a.rechecks
	r.mu.Lock()
	delete(r.watches, w)
	r.mu.Unlock()
}

// recheckLoop rechecks every watch until none is left; a watch whose
// stream no longer stands is ended (check) and dropped.
func (a *Authorizer) recheckLoop() {
	r := &a.rechecks
	tick := time.NewTicker(recheckEvery)
	defer tick.Stop()
	expiry := time.NewTimer(time.Hour)
	defer expiry.Stop()
	var ws []*watch
	for {
		changed := a.Directory.Changed()
		r.mu.Lock()
		if len(r.watches) == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		ws = ws[:0]
		for w := range r.watches {
			ws = append(ws, w)
		}
		r.mu.Unlock()
		var soonest time.Time
		for _, w := range ws {
			if w.check() != nil {
				a.untrack(w)
				continue
			}
			if soonest.IsZero() || w.expiry.Before(soonest) {
				soonest = w.expiry
			}
		}
		if !soonest.IsZero() {
			expiry.Reset(time.Until(soonest))
		}
		select {
		case <-changed:
		case <-tick.C:
		case <-expiry.C:
		}
	}
}

// stop ends the watch once the handler has returned.
func (w *watch) stop() {
	w.cancel(nil)
	w.a.untrack(w)
	w.a.opened(w.method, -1)
}

// finish is the stream's final error: its recheck's cause when one ended
// it, recorded in the stream's audit record. A client stream whose handler
// succeeded keeps its success: its work was done and committed.
func (w *watch) finish(ctx context.Context, serverStream bool, err error) error {
	end := w.ended.Load()
	if end == nil || (err == nil && !serverStream) {
		return err
	}
	why := end.Reason
	if id := end.Metadata["agreement_id"]; id != "" {
		why += " " + id
	}
	audit.FromContext(ctx).Ended(why)
	return end
}

// watchedStream is a stream under its watch: its context is cancelled with
// the cause, and it sends nothing once the caller no longer stands. A
// handler waiting for a client's next message is woken by the end too:
// cancelling the context alone would not unblock a gRPC receive, so a
// client stream's messages are received by a goroutine of the stream's
// own, one at a time, while the handler waits for the message or the end.
type watchedStream struct {
	grpc.ServerStream
	ctx context.Context
	w   *watch
	// pump: the stream carries client messages (a client or bidi stream).
	pump  bool
	reqs  chan any
	resps chan error
}

func (s *watchedStream) Context() context.Context { return s.ctx }

func (s *watchedStream) SendMsg(m any) error {
	if end := s.w.ended.Load(); end != nil {
		return end
	}
	// Only when the directory changed since the last evaluation: a pointer
	// comparison on every other message.
	if s.w.a.Directory.Snapshot() != s.w.checked.Load() {
		if end := s.w.check(); end != nil {
			return end
		}
	}
	return s.ServerStream.SendMsg(m)
}

func (s *watchedStream) RecvMsg(m any) error {
	if end := s.w.ended.Load(); end != nil {
		return end
	}
	if !s.pump {
		return s.ServerStream.RecvMsg(m)
	}
	if s.reqs == nil {
		s.reqs, s.resps = make(chan any), make(chan error, 1)
		go func() {
			for m := range s.reqs {
				s.resps <- s.ServerStream.RecvMsg(m)
			}
		}()
	}
	select {
	case s.reqs <- m:
	case <-s.ctx.Done():
		return s.ended()
	}
	select {
	case err := <-s.resps:
		return err
	case <-s.ctx.Done():
		return s.ended()
	}
}

// ended is the error of a receive cut short by the stream's end.
func (s *watchedStream) ended() error {
	if end := s.w.ended.Load(); end != nil {
		return end
	}
	return status.FromContextError(s.ctx.Err()).Err()
}

// close stops the receiving goroutine once the handler has returned (a
// receive in flight returns as the call ends, into the buffered reply).
func (s *watchedStream) close() {
	if s.reqs != nil {
		close(s.reqs)
	}
}
