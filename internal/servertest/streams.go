package servertest

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"

	"github.com/sinergi-id/sinergi/internal/server"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// StreamCase is how a test opens one streaming method as a caller would.
type StreamCase struct {
	// As is an institution the method is for.
	As string
	// Open starts the call on conn and returns once it is established
	// (its first answer received, or its first message sent); wait blocks
	// until the call ends and returns its final status.
	Open func(ctx context.Context, conn *grpc.ClientConn) (wait func() error, err error)
}

// analyst is an officer asking for intelligence analysis (no case needed).
var analyst = &sinergiv1.AccessContext{OperatorId: "87111234", Purpose: sinergiv1.Purpose_PURPOSE_INTELLIGENCE_ANALYSIS}

// Streams has every streaming method the server serves. Tests walk the
// server's services against it: a streaming method missing here fails
// them, so that no stream goes without a proof that its recheck ends it.
var Streams = map[string]StreamCase{
	sinergiv1.CustodyService_WatchCustodyEvents_FullMethodName: {As: "polres-cilacap",
		Open: func(ctx context.Context, conn *grpc.ClientConn) (func() error, error) {
			s, err := sinergiv1.NewCustodyServiceClient(conn).WatchCustodyEvents(ctx, &sinergiv1.WatchCustodyEventsRequest{Access: analyst})
			if err != nil {
				return nil, err
			}
			if _, err := s.Recv(); err != nil {
				return nil, err
			}
			return func() error { return drain(s.Recv) }, nil
		}},
	sinergiv1.ReportService_WatchReports_FullMethodName: {As: "polres-cilacap",
		Open: func(ctx context.Context, conn *grpc.ClientConn) (func() error, error) {
			s, err := sinergiv1.NewReportServiceClient(conn).WatchReports(ctx, &sinergiv1.WatchReportsRequest{Access: analyst})
			if err != nil {
				return nil, err
			}
			if _, err := s.Recv(); err != nil {
				return nil, err
			}
			return func() error { return drain(s.Recv) }, nil
		}},
	sinergiv1.FirearmsService_WatchFirearms_FullMethodName: {As: "polres-cilacap",
		Open: func(ctx context.Context, conn *grpc.ClientConn) (func() error, error) {
			s, err := sinergiv1.NewFirearmsServiceClient(conn).WatchFirearms(ctx, &sinergiv1.WatchFirearmsRequest{
				Access: &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_OVERSIGHT}})
			if err != nil {
				return nil, err
			}
			if _, err := s.Recv(); err != nil {
				return nil, err
			}
			return func() error { return drain(s.Recv) }, nil
		}},
	sinergiv1.ScreeningService_WatchScreeningReferrals_FullMethodName: {As: "polres-cilacap",
		Open: func(ctx context.Context, conn *grpc.ClientConn) (func() error, error) {
			s, err := sinergiv1.NewScreeningServiceClient(conn).WatchScreeningReferrals(ctx, &sinergiv1.WatchScreeningReferralsRequest{Access: analyst})
			if err != nil {
				return nil, err
			}
			if _, err := s.Recv(); err != nil {
				return nil, err
			}
			return func() error { return drain(s.Recv) }, nil
		}},
	sinergiv1.CustodyService_WatchHitNotices_FullMethodName: {As: "lapas-permisan",
		Open: func(ctx context.Context, conn *grpc.ClientConn) (func() error, error) {
			s, err := sinergiv1.NewCustodyServiceClient(conn).WatchHitNotices(ctx, &sinergiv1.WatchHitNoticesRequest{
				Access: &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION}})
			if err != nil {
				return nil, err
			}
			if _, err := s.Recv(); err != nil {
				return nil, err
			}
			return func() error { return drain(s.Recv) }, nil
		}},
	sinergiv1.CustodyService_SyncRoster_FullMethodName: {As: "lapas-permisan",
		Open: func(ctx context.Context, conn *grpc.ClientConn) (func() error, error) {
			s, err := sinergiv1.NewCustodyServiceClient(conn).SyncRoster(ctx)
			if err != nil {
				return nil, err
			}
			if err := s.Send(&sinergiv1.SyncRosterRequest{Item: &sinergiv1.SyncRosterRequest_Header{Header: &sinergiv1.RosterHeader{}}}); err != nil {
				return nil, err
			}
			// The upload is left open: its end is the server's to decide.
			return func() error {
				var resp sinergiv1.SyncRosterResponse
				return s.RecvMsg(&resp)
			}, nil
		}},
	"/grpc.health.v1.Health/Watch": {As: "polres-cilacap",
		Open: func(ctx context.Context, conn *grpc.ClientConn) (func() error, error) {
			s, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
			if err != nil {
				return nil, err
			}
			if _, err := s.Recv(); err != nil {
				return nil, err
			}
			return func() error { return drain(s.Recv) }, nil
		}},
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": {As: "polres-cilacap",
		Open: func(ctx context.Context, conn *grpc.ClientConn) (func() error, error) {
			s, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
			if err != nil {
				return nil, err
			}
			if err := s.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
				return nil, err
			}
			if _, err := s.Recv(); err != nil {
				return nil, err
			}
			return func() error { return drain(s.Recv) }, nil
		}},
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": {As: "polres-cilacap",
		Open: func(ctx context.Context, conn *grpc.ClientConn) (func() error, error) {
			s, err := reflectionv1alpha.NewServerReflectionClient(conn).ServerReflectionInfo(ctx) //nolint:staticcheck // the server registers v1alpha too
			if err != nil {
				return nil, err
			}
			if err := s.Send(&reflectionv1alpha.ServerReflectionRequest{MessageRequest: &reflectionv1alpha.ServerReflectionRequest_ListServices{}}); err != nil {
				return nil, err
			}
			if _, err := s.Recv(); err != nil {
				return nil, err
			}
			return func() error { return drain(s.Recv) }, nil
		}},
}

func drain[T any](recv func() (T, error)) error {
	for {
		if _, err := recv(); err != nil {
			return err
		}
	}
}

// StreamMethods lists the methods of Streams, sorted.
func StreamMethods() []string {
	var ms []string
	for m := range Streams {
		ms = append(ms, m)
	}
	sort.Strings(ms)
	return ms
}

// OpenStream is one stream a test opened.
type OpenStream struct {
	Method string
	done   chan error
}

// OpenStreams opens every method of Streams on srv, through conn(method),
// and waits until srv runs each under its recheck. conn returning nil
// leaves the method out.
func OpenStreams(t testing.TB, srv *server.Server, conn func(method string) *grpc.ClientConn) []*OpenStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var out []*OpenStream
	want := map[string]float64{}
	for _, m := range StreamMethods() {
		want[m] = float64(srv.StartedStreams(m))
	}
	for _, m := range StreamMethods() {
		c := conn(m)
		if c == nil {
			continue
		}
		wait, err := Streams[m].Open(ctx, c)
		if err != nil {
			t.Fatalf("open %s: %v", m, err)
		}
		s := &OpenStream{Method: m, done: make(chan error, 1)}
		go func() { s.done <- wait() }()
		out = append(out, s)
		want[m]++
	}
	waitStreams(t, srv, want)
	return out
}

// waitStreams waits until srv has started at least want[m] streams of each
// method under their recheck.
func waitStreams(t testing.TB, srv *server.Server, want map[string]float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		short := ""
		for m, n := range want {
			if got := float64(srv.StartedStreams(m)); got < n {
				short = fmt.Sprintf("%s: %v of %v started", m, got, n)
			}
		}
		if short == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("streams not running: %s", short)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// EndedWith waits (up to 10 s: generous, the design ends a stream within
// 2 s) for each stream to end, and checks its status code and the
// ErrorInfo reason of the cause.
func EndedWith(t testing.TB, streams []*OpenStream, code codes.Code, reason string) {
	t.Helper()
	for _, s := range streams {
		select {
		case err := <-s.done:
			st := status.Convert(err)
			if st.Code() != code || ReasonOf(err) != reason {
				t.Errorf("%s ended with %v (reason %q), want %v %s", s.Method, err, ReasonOf(err), code, reason)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s still open 10 s later, want it ended with %v %s", s.Method, code, reason)
		}
	}
}

// StillOpen checks that none of streams has ended.
func StillOpen(t testing.TB, streams []*OpenStream) {
	t.Helper()
	for _, s := range streams {
		select {
		case err := <-s.done:
			t.Errorf("%s ended: %v", s.Method, err)
			s.done <- err
		default:
		}
	}
}

// ReasonOf is the ErrorInfo reason of a status error, or "".
func ReasonOf(err error) string {
	if err == nil {
		return ""
	}
	for _, d := range status.Convert(err).Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			return ei.GetReason()
		}
	}
	return ""
}
