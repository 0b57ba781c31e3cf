package audit

import (
	"context"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/sinergi-id/sinergi/internal/requestid"
)

// A call can end before it reaches the interceptors: gRPC refuses a
// request message larger than the server receives (RESOURCE_EXHAUSTED)
// before any interceptor runs. StatsHandler sees every call end and
// records, as refused, each one that never reached the Recorder, so that
// no call goes unrecorded whatever its bytes were.
type mark struct {
	method  string
	reached atomic.Bool
}

type markKey struct{}

// StatsHandler returns the gRPC stats handler that records calls that
// ended before they reached r's interceptors. Install it with
// grpc.StatsHandler.
func (r *Recorder) StatsHandler() stats.Handler { return unrecorded{r: r} }

type unrecorded struct{ r *Recorder }

func (u unrecorded) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, markKey{}, &mark{method: info.FullMethodName})
}

func (u unrecorded) HandleRPC(ctx context.Context, s stats.RPCStats) {
	end, ok := s.(*stats.End)
	if !ok {
		return
	}
	m, ok := ctx.Value(markKey{}).(*mark)
	if !ok || m.reached.Load() {
		return
	}
	reqID := ""
	if v := metadata.ValueFromIncomingContext(ctx, requestid.Header); len(v) > 0 {
		reqID = v[0]
	}
	e := NewEntry(m.method, reqID, end.BeginTime)
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.PeerCertificates) > 0 {
			e.SetSerial(info.State.PeerCertificates[0].SerialNumber.Text(16))
		}
	}
	st := status.Convert(end.Error)
	e.Refuse("request refused before it reached the service: " + st.Message())
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = u.r.Writer.Append(wctx, e.finish(st.Code().String()))
}

func (u unrecorded) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (u unrecorded) HandleConn(context.Context, stats.ConnStats) {}
