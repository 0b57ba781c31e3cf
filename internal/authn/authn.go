// Package authn identifies the calling institution from its mutual-TLS
// client certificate, as SPIRE does: the verified leaf certificate must carry
// exactly one URI SAN, the SPIFFE ID spiffe://<trust-domain>/institution/<code>,
// naming an active institution of the directory, and its serial must not be
// revoked. Anything else is UNAUTHENTICATED.
package authn

import (
	"context"
	"crypto/x509"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/pki"
	"github.com/sinergi-id/sinergi/internal/requestid"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Caller is the authenticated institution of a call.
type Caller struct {
	Institution *sinergiv1.Institution
	Serial      string
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
	Directory   *directory.Cache
	TrustDomain string
	// Public methods need a verified certificate but no institution (health).
	Public func(method string) bool
}

// errUnauthenticated is what every refused caller sees: one message, whatever the cause.
var errUnauthenticated = status.Error(codes.Unauthenticated, "unauthenticated: present a valid client certificate of an active institution")

// Authenticate identifies the caller of ctx.
func (a *Authenticator) Authenticate(ctx context.Context) (*Caller, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, errors.New("no peer")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return nil, errors.New("no verified client certificate")
	}
	leaf := info.State.VerifiedChains[0][0]
	serial := pki.SerialHex(leaf)
	audit.FromContext(ctx).SetSerial(serial)
	return a.identify(leaf, serial)
}

func (a *Authenticator) identify(leaf *x509.Certificate, serial string) (*Caller, error) {
	code, err := pki.InstitutionFromCert(leaf, a.TrustDomain)
	if err != nil {
		return nil, err
	}
	snap := a.Directory.Snapshot()
	in := snap.Institution(code)
	switch {
	case in == nil:
		return nil, errors.New("unknown institution " + code)
	case in.GetStatus() != sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE:
		return nil, errors.New("institution " + code + " is suspended")
	case snap.Revoked(serial):
		return nil, errors.New("certificate " + serial + " is revoked")
	}
	return &Caller{Institution: in, Serial: serial, Directory: snap}, nil
}

func (a *Authenticator) authenticate(ctx context.Context, method string) (context.Context, error) {
	e := audit.FromContext(ctx)
	c, err := a.Authenticate(ctx)
	if err != nil {
		if a.Public != nil && a.Public(method) {
			return ctx, nil
		}
		e.Refuse("unauthenticated: " + err.Error())
		return nil, errUnauthenticated
	}
	e.SetCaller(c.Institution.GetCode(), c.Serial)
	return NewContext(ctx, c), nil
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
