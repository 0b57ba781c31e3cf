// Package requestid gives every call an id: the caller's x-request-id when it
// sends a sane one, else a new random one. The id is returned in the
// response header and carried in the context for logs and the audit trail.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// Header is the metadata key.
const Header = "x-request-id"

// sane reports whether a caller's id is 1 to 64 of A-Z a-z 0-9 . _ : -.
func sane(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

type ctxKey struct{}

// FromContext returns the call's request id, or "".
func FromContext(ctx context.Context) string {
	s, _ := ctx.Value(ctxKey{}).(string)
	return s
}

func assign(ctx context.Context) (context.Context, string) {
	id := ""
	// ValueFromIncomingContext reads the one key without copying the
	// call's whole metadata, as FromIncomingContext does.
	if v := metadata.ValueFromIncomingContext(ctx, Header); len(v) > 0 && sane(v[0]) {
		id = v[0]
	}
	if id == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	return context.WithValue(ctx, ctxKey{}, id), id
}

// UnaryServerInterceptor assigns the id.
func UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, id := assign(ctx)
		_ = grpc.SetHeader(ctx, metadata.Pairs(Header, id))
		return handler(ctx, req)
	}
}

// StreamServerInterceptor assigns the id.
func StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, id := assign(ss.Context())
		_ = ss.SetHeader(metadata.Pairs(Header, id))
		return handler(srv, &Stream{ServerStream: ss, Ctx: ctx})
	}
}

// Stream is a ServerStream with a replaced context.
type Stream struct {
	grpc.ServerStream
	Ctx context.Context
}

// Context returns the replaced context.
func (s *Stream) Context() context.Context { return s.Ctx }
