package bench

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// assistanceRequest is a critical request for help with a riot at the
// facility. The demo directory has no incident agreement for Lapas
// Permisan, so it travels by the emergency override: the path a riot takes
// when no agreement covers it.
func assistanceRequest(key string) *sinergiv1.SubmitReportRequest {
	return &sinergiv1.SubmitReportRequest{
		Access: officer, IdempotencyKey: key,
		Kind: sinergiv1.ReportKind_REPORT_KIND_ASSISTANCE_REQUEST, Type: sinergiv1.ReportType_REPORT_TYPE_CONFLICT_HANDLING,
		Severity: sinergiv1.ReportSeverity_REPORT_SEVERITY_CRITICAL, Classification: sinergiv1.ReportClassification_REPORT_CLASSIFICATION_BIASA,
		OccurTime: timestamppb.New(time.Now().Add(-time.Minute)), Place: "Blok " + key,
		Narrative:              "Kerusuhan di blok hunian; petugas meminta bantuan pengendalian massa.",
		EmergencyJustification: "Kerusuhan berlangsung; tidak ada PKS keamanan dan ketertiban yang berlaku.",
	}
}

// threadPosts is how many posts the thread benchmark makes: a long riot's
// thread. Each delivery carries the report with its whole thread, so the
// cost of a post grows with the thread.
const threadPosts = 100

// AssistanceDelivery files assistance requests at Lapas Permisan while
// Polres Cilacap watches, and measures from the call to the delivery; then
// the facility posts to the last request's coordination thread while the
// Polres follows that thread alone, and measures each post's delivery.
func AssistanceDelivery(ctx context.Context, r *Results, facility, police sinergiv1.ReportServiceClient) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := police.WatchReports(wctx, &sinergiv1.WatchReportsRequest{Access: analyst})
	if err != nil {
		return err
	}
	if _, err := stream.Recv(); err != nil { // the starting cursor
		return err
	}
	run := time.Now().UnixNano()
	var last string
	lat, err := delivery(ctx, 300, func(i int, mark func(string)) error {
		req := assistanceRequest(fmt.Sprintf("assist-%d-%d", run, i))
		mark(req.GetPlace())
		resp, err := facility.SubmitReport(ctx, req)
		last = resp.GetReport().GetId()
		return err
	}, func() (string, error) {
		m, err := stream.Recv()
		return m.GetReport().GetPlace(), err
	})
	if err != nil {
		return err
	}
	p50, p99 := Latencies(lat)
	r.Add(Figure{Key: "assistance_request_delivery_p50_ms", Value: p50, Unit: "ms"})
	r.Add(Figure{Key: "assistance_request_delivery_p99_ms", Value: p99, Op: "<=", Target: 100, Unit: "ms"})
	cancel()

	tctx, tcancel := context.WithCancel(ctx)
	defer tcancel()
	thread, err := police.WatchReports(tctx, &sinergiv1.WatchReportsRequest{Access: analyst, ReportId: last})
	if err != nil {
		return err
	}
	if _, err := thread.Recv(); err != nil {
		return err
	}
	lat, err = delivery(ctx, threadPosts, func(i int, mark func(string)) error {
		text := fmt.Sprintf("Laporan situasi %d: massa masih bertahan di blok.", i)
		mark(text)
		_, err := facility.PostCoordinationEntry(ctx, &sinergiv1.PostCoordinationEntryRequest{Access: officer, Id: last,
			Kind: sinergiv1.CoordinationKind_COORDINATION_KIND_MESSAGE, Text: text})
		return err
	}, func() (string, error) {
		m, err := thread.Recv()
		if err != nil {
			return "", err
		}
		n := int(m.GetEvent().GetCoordinationNumber())
		if c := m.GetReport().GetCoordination(); n >= 1 && n <= len(c) {
			return c[n-1].GetText(), nil
		}
		return "", nil
	})
	if err != nil {
		return err
	}
	p50, p99 = Latencies(lat)
	what := fmt.Sprintf("posts 1 to %d of one thread, each delivered with the whole thread", threadPosts)
	r.Add(Figure{Key: "thread_post_delivery_p50_ms", What: what, Value: p50, Unit: "ms"})
	r.Add(Figure{Key: "thread_post_delivery_p99_ms", What: what, Value: p99, Op: "<=", Target: 100, Unit: "ms"})
	return nil
}
