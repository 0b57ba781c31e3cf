package authz

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authn"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Authorizer applies Policy.
type Authorizer struct {
	// Now is the clock agreements are judged by.
	Now func() time.Time
	// Served reports whether the server serves a method; a method it does
	// not is UNIMPLEMENTED (one it serves without a policy entry is a bug,
	// refused).
	Served func(method string) bool
	// Directory is the cache streams are rechecked against.
	Directory *directory.Cache
	// Streams, when set, is the gauge of open streams by method.
	Streams *prometheus.GaugeVec

	open    sync.Map // method -> *atomic.Int64 open streams
	started sync.Map // method -> *atomic.Int64 streams started

	rechecks rechecks // the open streams' watches (recheck.go)
}

type accessCarrier interface {
	GetAccess() *sinergiv1.AccessContext
}

// admit checks the caller's kind; it runs before the request is read.
func (a *Authorizer) admit(ctx context.Context, method string) (Rule, error) {
	e := audit.FromContext(ctx)
	rule, ok := Lookup(method)
	if !ok && a.Served != nil && !a.Served(method) {
		e.Refuse("unknown method")
		return rule, status.Error(codes.Unimplemented, "unknown method "+method)
	}
	if !ok {
		e.Refuse("method has no policy entry")
		return rule, status.Error(codes.PermissionDenied, "permission denied: "+method+" is not in the policy table")
	}
	if rule.Public {
		e.Allow("public method")
		return rule, nil
	}
	caller, ok := authn.FromContext(ctx)
	if !ok {
		e.Refuse("no authenticated caller")
		return rule, status.Error(codes.Unauthenticated, "unauthenticated")
	}
	if len(rule.Kinds) > 0 && !slices.Contains(rule.Kinds, caller.Institution.GetKind()) {
		kind := strings.TrimPrefix(caller.Institution.GetKind().String(), "INSTITUTION_KIND_")
		e.Refuse("institution kind " + kind + " may not call this method")
		return rule, status.Errorf(codes.PermissionDenied, "permission denied: a %s may not call %s", kind, method)
	}
	return rule, nil
}

// check validates the request and its access context, and computes the reach.
func (a *Authorizer) check(ctx context.Context, method string, rule Rule, req any) (context.Context, error) {
	if rule.Public {
		return ctx, nil
	}
	e := audit.FromContext(ctx)
	m, ok := req.(proto.Message)
	if !ok {
		return nil, status.Error(codes.Internal, "request is not a protobuf message")
	}
	ac, carries := req.(accessCarrier)
	if rule.Purposes != nil && !carries {
		e.Refuse("method with purposes but no access field")
		return nil, status.Error(codes.Internal, "policy gives this method purposes but its request carries no AccessContext")
	}
	if carries {
		if acc := ac.GetAccess(); acc != nil {
			NormalizeAccess(acc)
			e.SetAccess(acc.GetOperatorId(), strings.TrimPrefix(acc.GetPurpose().String(), "PURPOSE_"), acc.GetCaseReference())
		}
	}
	if err := validate.Request(m); err != nil {
		e.Refuse("invalid request: " + strings.Join(validate.FieldsOf(err), ", "))
		return nil, err
	}
	if rule.Purposes != nil {
		caller, _ := authn.FromContext(ctx)
		var v validate.Violations
		CheckAccess(&v, "access", ac.GetAccess(), rule.Purposes, caller.Institution.GetKind(), method)
		if err := v.Err(); err != nil {
			e.Refuse("invalid access context: " + strings.Join(v.Fields(), ", "))
			return nil, err
		}
	}
	return a.reach(ctx, method, rule), nil
}

// reach computes the caller's Reach for each of the rule's scopes.
func (a *Authorizer) reach(ctx context.Context, method string, rule Rule) context.Context {
	e := audit.FromContext(ctx)
	if len(rule.Scopes) == 0 {
		e.Allow("policy allows")
		return ctx
	}
	caller, _ := authn.FromContext(ctx)
	rs := ComputeReaches(caller.Directory, caller.Institution, a.Now(), rule.Scopes...)
	e.Allow(reachReasons[method])
	return withReaches(ctx, rs)
}

// reachReasons are the audit reasons of the methods with scopes, made once.
var reachReasons = func() map[string]string {
	out := map[string]string{}
	for m, r := range Policy {
		names := make([]string, len(r.Scopes))
		for i, sc := range r.Scopes {
			names[i] = strings.TrimPrefix(sc.String(), "SCOPE_")
		}
		out[m] = "policy allows; data limited to reach for " + strings.Join(names, ", ")
	}
	return out
}()

// UnaryServerInterceptor applies the policy to unary calls and attributes
// the subjects of their responses.
func (a *Authorizer) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		rule, err := a.admit(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		ctx, err = a.check(ctx, info.FullMethod, rule, req)
		if err != nil {
			return nil, err
		}
		resp, err := handler(ctx, req)
		if err == nil {
			if m, ok := resp.(proto.Message); ok {
				rs, _ := ctx.Value(reachKey{}).(Reaches)
				attribute(audit.FromContext(ctx), rs, m)
			}
		}
		return resp, err
	}
}

// StreamServerInterceptor applies the policy to streams. A server stream's
// one request is checked when the handler reads it; a client stream's
// messages are the handler's to check one by one (a roster upload rejects
// bad records and keeps the good). Every stream runs under its recheck
// (recheck.go), which ends it when the caller no longer stands.
func (a *Authorizer) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		rule, err := a.admit(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		if rule.Stream == RecheckUnset {
			audit.FromContext(ss.Context()).Refuse("streaming method has no recheck in the policy table")
			return status.Error(codes.PermissionDenied, "permission denied: "+info.FullMethod+" has no stream recheck in the policy table")
		}
		w, ctx, err := a.startWatch(ss.Context(), info.FullMethod, rule)
		if err != nil {
			return err
		}
		defer w.stop()
		if end := w.ended.Load(); end != nil {
			return w.finish(ctx, true, end)
		}
		watched := &watchedStream{ServerStream: ss, ctx: ctx, w: w, pump: info.IsClientStream}
		defer watched.close()
		var inner grpc.ServerStream = watched
		if !rule.Public {
			ws := &checkedStream{ServerStream: inner, ctx: ctx, a: a, method: info.FullMethod, rule: rule, checkFirst: !info.IsClientStream, onReach: w.arm}
			if info.IsClientStream {
				// The reach is known before any message arrives.
				ws.ctx = a.reach(ctx, info.FullMethod, rule)
				w.arm(ws.ctx)
			}
			inner = ws
		}
		return w.finish(ctx, info.IsServerStream, handler(srv, inner))
	}
}

type checkedStream struct {
	grpc.ServerStream
	ctx        context.Context
	a          *Authorizer
	method     string
	rule       Rule
	checkFirst bool
	checked    bool
	onReach    func(context.Context)
}

func (s *checkedStream) Context() context.Context { return s.ctx }

func (s *checkedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if s.checkFirst && !s.checked {
		s.checked = true
		ctx, err := s.a.check(s.ctx, s.method, s.rule, m)
		if err != nil {
			return err
		}
		s.ctx = ctx
		s.onReach(ctx)
	}
	return nil
}
