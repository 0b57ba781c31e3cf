package server

import (
	"context"
	"sync"

	"google.golang.org/grpc"

	"github.com/sinergi-id/sinergi/internal/api"
	"github.com/sinergi-id/sinergi/internal/authn"
)

// DefaultStreamBudget is what all long-lived streams together may hold
// for consumers that do not read (beyond each stream's allowance), and
// DefaultStreamsPerInstitution how many streams one institution may have
// open: together they keep a thousand stalled watchers within the
// server's 256 MiB.
const (
	DefaultStreamBudget          = 16 << 20
	DefaultStreamsPerInstitution = 100
)

// streamCap counts each institution's open server streams, refusing one
// past the cap with RESOURCE_EXHAUSTED. It runs after authorization: a
// stream that is refused does not count, and counting needs the caller.
func streamCap(streams *api.Streams) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		c, ok := authn.FromContext(ss.Context())
		if !info.IsServerStream || !ok {
			return handler(srv, ss)
		}
		release, err := streams.Open(c.Institution.GetCode())
		if err != nil {
			return err
		}
		defer release()
		return handler(srv, ss)
	}
}

// inflight counts calls between the outermost interceptor's start and
// end, so that Stop knows when every call, its audit record written, has
// finished.
type inflight struct {
	mu   sync.Mutex
	n    int
	zero chan struct{}
}

func (f *inflight) add(d int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n += d
	if f.n == 0 && f.zero != nil {
		close(f.zero)
		f.zero = nil
	}
}

// idle is closed once no call is in flight.
func (f *inflight) idle() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := make(chan struct{})
	if f.n == 0 {
		close(c)
		return c
	}
	if f.zero == nil {
		f.zero = make(chan struct{})
	}
	return f.zero
}

func (f *inflight) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	f.add(1)
	defer f.add(-1)
	return handler(ctx, req)
}

func (f *inflight) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	f.add(1)
	defer f.add(-1)
	return handler(srv, ss)
}
