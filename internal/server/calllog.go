package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/sinergi-id/sinergi/internal/authn"
	"github.com/sinergi-id/sinergi/internal/requestid"
)

// failedUnaryCalls logs the unary calls that fail, with the fields and
// levels of go-grpc-middleware's logging interceptor, and nothing for the
// calls that succeed. It stands in for that interceptor when successful
// calls are not logged (any level above debug): the interceptor builds and
// merges its fields before and after every call, whether or not a line is
// written, and under load that was the largest cost of a successful call
// outside its own work. A successful call is in the audit trail already.
func failedUnaryCalls(logger logging.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		if err == nil || errors.Is(ctx.Err(), context.Canceled) {
			// The client that cancelled its own call knows why it ended.
			return resp, err
		}
		c := interceptors.NewServerCallMeta(info.FullMethod, nil, req)
		code := status.Code(err)
		fields := logging.Fields{
			logging.SystemTag[0], logging.SystemTag[1],
			logging.ComponentFieldKey, logging.KindServerFieldValue,
			logging.ServiceFieldKey, c.Service,
			logging.MethodFieldKey, c.Method,
			logging.MethodTypeFieldKey, string(c.Typ),
		}
		fields = append(fields, callFields(ctx)...)
		if p, ok := peer.FromContext(ctx); ok {
			fields = append(fields, "peer.address", p.Addr.String())
		}
		fields = append(fields, "grpc.start_time", start.Format(time.RFC3339), "grpc.code", code.String(),
			"grpc.error", fmt.Sprintf("%v", err))
		fields = append(fields, logging.DurationToTimeMillisFields(time.Since(start))...)
		logger.Log(ctx, logging.DefaultServerCodeToLevel(code), "finished call", fields...)
		return resp, err
	}
}

// callFields are the fields of every call's log line: its request id and
// the calling institution's code, from the certificate its connection was
// authenticated with (no name: codes only).
func callFields(ctx context.Context) logging.Fields {
	f := logging.Fields{"request_id", requestid.FromContext(ctx)}
	if id := authn.PeerIdentity(ctx); id != nil && id.Code != "" {
		f = append(f, "institution", id.Code)
	}
	return f
}

// clientGone wraps the stream logging interceptor so that a stream the
// client ended itself (it cancelled, or went away) is logged as cancelled,
// at debug level, not as the failure the handler's last send reported:
// ending a watch with Ctrl-C is how watches end. What the stream's audit
// record and metrics say is left as it is.
func clientGone(log grpc.StreamServerInterceptor) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return log(srv, ss, info, func(srv any, ss grpc.ServerStream) error {
			err := handler(srv, ss)
			if err != nil && errors.Is(ss.Context().Err(), context.Canceled) {
				return status.Error(codes.Canceled, "the client ended the stream")
			}
			return err
		})
	}
}
