// Package authn identifies the calling institution from its mutual-TLS
// client certificate, as SPIRE does, in two steps.
//
// The handshake (pki.ServerTLS, through ServerCredentials here) accepts
// only an X.509-SVID of the trust domain naming an institution,
// spiffe://<trust-domain>/institution/<code>, checked with go-spiffe
// against the CA bundle and the configured intermediates; every refusal is
// counted, logged and audited by HandshakeRefusals. The identity read then
// travels with the connection (PeerInfo).
//
// Each call then needs that institution to be in the directory and active,
// the certificate's serial not revoked and the certificate still valid.
// Anything else is UNAUTHENTICATED with one message whatever the cause; the
// cause goes to the call's audit record and a log line.
package authn

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/requestid"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Caller is the authenticated institution of a call.
type Caller struct {
	Institution *sinergiv1.Institution
	Serial      string
	// NotAfter is when the caller's certificate expires.
	NotAfter time.Time
	// The directory as it stood when the call arrived: every decision of
	// the call is made against this one snapshot.
	Directory *directory.Snapshot
}

type ctxKey struct{}

// FromContext returns the caller; ok is false on an unauthenticated path.
func FromContext(ctx context.Context) (*Caller, bool) {
	c, ok := ctx.Value(ctxKey{}).(*Caller)
	return c, ok
}

// NewContext carries c (for tests and internal calls).
func NewContext(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// Authenticator checks callers against the directory.
type Authenticator struct {
	Directory *directory.Cache
	// Public methods need a verified certificate but no institution (health).
	Public func(method string) bool
	Log    *slog.Logger
	// Sightings, when set, is told of the certificates calls are made with.
	Sightings *Sightings
}

// Why a call is refused after the handshake.
const (
	RuleNoIdentity      = "no_verified_certificate"
	RuleUnknownInst     = "unknown_institution"
	RuleSuspended       = "institution_suspended"
	RuleRevoked         = "certificate_revoked"
	RuleCertExpired     = "certificate_expired"
	RuleCertNotYetValid = "certificate_not_yet_valid"
)

// Refusal is why a call was not authenticated.
type Refusal struct {
	Rule   string
	Serial string
	Code   string
}

func (r *Refusal) Error() string { return r.Rule }

// errUnauthenticated is what every refused caller sees: one message, whatever the cause.
var errUnauthenticated = status.Error(codes.Unauthenticated, "unauthenticated: present a valid client certificate of an active institution")

// Authenticate identifies the caller of ctx. Certificate validity is judged
// by the wall clock, as the handshake judged it.
func (a *Authenticator) Authenticate(ctx context.Context) (*Caller, error) {
	pi := peerInfo(ctx)
	if pi == nil || pi.Identity == nil {
		return nil, &Refusal{Rule: RuleNoIdentity}
	}
	id := pi.Identity
	audit.FromContext(ctx).SetSerial(id.Serial)
	now := time.Now()
	ref := func(rule string) error { return &Refusal{Rule: rule, Serial: id.Serial, Code: id.Code} }
	switch {
	case now.After(id.NotAfter):
		return nil, ref(RuleCertExpired)
	case now.Before(id.NotBefore):
		return nil, ref(RuleCertNotYetValid)
	}
	snap := a.Directory.Snapshot()
	in := snap.Institution(id.Code)
	switch {
	case in == nil:
		return nil, ref(RuleUnknownInst)
	case in.GetStatus() != sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE:
		return nil, ref(RuleSuspended)
	case snap.Revoked(id.Serial):
		return nil, ref(RuleRevoked)
	}
	a.Sightings.saw(pi, now)
	return &Caller{Institution: in, Serial: id.Serial, NotAfter: id.NotAfter, Directory: snap}, nil
}

func (a *Authenticator) authenticate(ctx context.Context, method string) (context.Context, error) {
	e := audit.FromContext(ctx)
	c, err := a.Authenticate(ctx)
	if err != nil {
		if a.Public != nil && a.Public(method) {
			return ctx, nil
		}
		e.Refuse("unauthenticated: " + err.Error())
		a.logRefusal(ctx, method, err)
		return nil, errUnauthenticated
	}
	e.SetCaller(c.Institution.GetCode(), c.Serial)
	return NewContext(ctx, c), nil
}

// logRefusal writes the refusal's log line: the rule, the certificate's
// serial and institution code, the peer; never a name.
func (a *Authenticator) logRefusal(ctx context.Context, method string, err error) {
	if a.Log == nil {
		return
	}
	attrs := []any{"request_id", requestid.FromContext(ctx), "method", method, "rule", err.Error()}
	if r, ok := err.(*Refusal); ok && r.Serial != "" {
		attrs = append(attrs, "serial", r.Serial, "institution", r.Code)
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs = append(attrs, "peer", p.Addr.String())
	}
	a.Log.WarnContext(ctx, "call refused: unauthenticated", attrs...)
}

// UnaryServerInterceptor authenticates unary calls.
func (a *Authenticator) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := a.authenticate(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor authenticates streaming calls.
func (a *Authenticator) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := a.authenticate(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &requestid.Stream{ServerStream: ss, Ctx: ctx})
	}
}
