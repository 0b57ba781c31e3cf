package reports_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

type watch struct {
	t      *testing.T
	stream grpc.ServerStreamingClient[sinergiv1.WatchReportsResponse]
	cancel context.CancelFunc
	cursor string
}

// openWatch opens a watch from cursor and waits until it is established.
func openWatch(t *testing.T, c sinergiv1.ReportServiceClient, access *sinergiv1.AccessContext, cursor string) *watch {
	t.Helper()
	// The deadline only keeps a broken test from hanging: every Recv below
	// waits for an event the test knows is coming.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	stream, err := c.WatchReports(ctx, &sinergiv1.WatchReportsRequest{Access: access, Cursor: cursor})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatalf("opening the watch: %v", err)
	}
	if first.GetEvent() != nil || first.GetCursor() == "" {
		t.Fatalf("first message %v, want a cursor alone", first)
	}
	return &watch{t: t, stream: stream, cancel: cancel, cursor: first.GetCursor()}
}

// next receives n events, as "report-prefix/number kind".
func (w *watch) next(n int, names map[string]string) []string {
	w.t.Helper()
	var out []string
	for range n {
		msg, err := w.stream.Recv()
		if err != nil {
			w.t.Fatalf("after %v: %v", out, err)
		}
		ev := msg.GetEvent()
		if msg.GetReport().GetId() != ev.GetReportId() || msg.GetReport().GetNarrative() == "" {
			w.t.Errorf("event of %s delivered with report %q", ev.GetReportId(), msg.GetReport().GetId())
		}
		w.cursor = msg.GetCursor()
		out = append(out, fmt.Sprintf("%s/%d %s", names[ev.GetReportId()], ev.GetNumber(), ev.GetKind()))
	}
	return out
}

// TestWatchReports: a watch delivers the caller's events as they commit,
// through any server process; resuming from any cursor received gives
// every later event once and none twice, the same sequence a live watcher
// got; nobody receives events of reports it may not see; cursors cannot be
// forged or borrowed; and every delivery is in the audit trail.
func TestWatchReports(t *testing.T) {
	d := freshDB(t)
	env, t0 := start(t, d)
	other := env.Another(t)
	ctx := context.Background()
	cipinang := reportsAs(t, env, "lapas-cipinang")
	polres := reportsAs(t, env, "polres-metro-jakarta-timur")
	// Polda Metro Jaya watches through the second process.
	polda := sinergiv1.NewReportServiceClient(env.ConnAsTo(t, other.Addr(), "polda-metro-jaya"))
	lampung := reportsAs(t, env, "polres-metro")

	live := openWatch(t, polres, policeOfficer, "")
	start := live.cursor
	poldaWatch := openWatch(t, polda, policeOfficer, "")
	lampungWatch := openWatch(t, lampung, policeOfficer, "")

	names := map[string]string{}
	var ids []string
	for i := range 3 {
		req := submission(t, t0)
		req.Severity = sinergiv1.ReportSeverity_REPORT_SEVERITY_MEDIUM
		id := submit(t, cipinang, req).GetId()
		names[id] = fmt.Sprintf("R%d", i+1)
		ids = append(ids, id)
	}
	submitted := []string{"R1/1 REPORT_EVENT_KIND_SUBMITTED", "R2/1 REPORT_EVENT_KIND_SUBMITTED", "R3/1 REPORT_EVENT_KIND_SUBMITTED"}
	got := live.next(2, names)
	afterR2 := live.cursor
	got = append(got, live.next(1, names)...)
	if diff := cmp.Diff(submitted, got); diff != "" {
		t.Fatalf("live (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(submitted, poldaWatch.next(3, names)); diff != "" {
		t.Errorf("through the other process (-want +got):\n%s", diff)
	}
	live.cancel()

	// Changes while the Polres is away.
	if _, err := polres.AcknowledgeReport(ctx, &sinergiv1.AcknowledgeReportRequest{Access: policeOfficer, Id: ids[0]}); err != nil {
		t.Fatal(err)
	}
	if _, err := cipinang.AddReportAddendum(ctx, &sinergiv1.AddReportAddendumRequest{Access: facilityOfficer, Id: ids[1], Text: "Tambahan keterangan."}); err != nil {
		t.Fatal(err)
	}
	if _, err := polda.AcknowledgeReport(ctx, &sinergiv1.AcknowledgeReportRequest{Access: policeOfficer, Id: ids[2]}); err != nil {
		t.Fatal(err)
	}
	later := []string{"R1/2 REPORT_EVENT_KIND_ACKNOWLEDGED", "R2/2 REPORT_EVENT_KIND_ADDENDUM_ADDED", "R3/2 REPORT_EVENT_KIND_ACKNOWLEDGED"}

	resumed := openWatch(t, polres, policeOfficer, afterR2)
	if diff := cmp.Diff(append(submitted[2:], later...), resumed.next(4, names)); diff != "" {
		t.Errorf("resumed after R2 (-want +got):\n%s", diff)
	}
	again := openWatch(t, polres, policeOfficer, start)
	if diff := cmp.Diff(append(submitted, later...), again.next(6, names)); diff != "" {
		t.Errorf("resumed from the start (-want +got):\n%s", diff)
	}
	// Live again: what comes next arrives once, on each open watch.
	req := submission(t, t0)
	req.Severity = sinergiv1.ReportSeverity_REPORT_SEVERITY_LOW
	r4 := submit(t, cipinang, req).GetId()
	names[r4] = "R4"
	if diff := cmp.Diff([]string{"R4/1 REPORT_EVENT_KIND_SUBMITTED"}, resumed.next(1, names)); diff != "" {
		t.Errorf("resumed watch, live (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"R4/1 REPORT_EVENT_KIND_SUBMITTED"}, again.next(1, names)); diff != "" {
		t.Errorf("second resumed watch, live (-want +got):\n%s", diff)
	}

	// Polres Metro (Lampung) was told nothing of Cipinang's reports: the
	// first event it gets is of Lapas Metro's.
	metro := submit(t, reportsAs(t, env, "lapas-metro"), submission(t, t0)).GetId()
	names[metro] = "M1"
	if diff := cmp.Diff([]string{"M1/1 REPORT_EVENT_KIND_SUBMITTED"}, lampungWatch.next(1, names)); diff != "" {
		t.Errorf("Polres Metro (-want +got):\n%s", diff)
	}

	// Every delivery of R2 to the Polres is in the audit trail: live once
	// (submitted), resumed after R2 once (addendum), from the start twice;
	// a record of several deliveries names R2 once for each.
	var n int
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_records, unnest(subjects) s
		WHERE method = '/sinergi.v1.ReportService/WatchReports' AND caller_code = 'polres-metro-jakarta-timur'
		  AND s = $1 AND agreement_ids = ARRAY['mou-2025-kemenimipas-polri'] AND operator_id = $2`,
		"report/"+ids[1], policeOfficer.OperatorId).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("%d audited deliveries of R2 to the Polres, want 4", n)
	}

	t.Run("cursors cannot be forged or borrowed", func(t *testing.T) {
		forged := []byte(start)
		forged[len(forged)/2] ^= 1
		for name, cur := range map[string]string{"altered": string(forged), "another institution's": poldaWatch.cursor, "not a cursor": "xyz"} {
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			stream, err := polres.WatchReports(wctx, &sinergiv1.WatchReportsRequest{Access: policeOfficer, Cursor: cur})
			if err == nil {
				_, err = stream.Recv()
			}
			cancel()
			if codeOf(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), []string{"cursor"}) {
				t.Errorf("%s cursor: %v, want InvalidArgument naming cursor", name, err)
			}
		}
	})
	t.Run("access context required", func(t *testing.T) {
		stream, err := polres.WatchReports(ctx, &sinergiv1.WatchReportsRequest{})
		if err == nil {
			_, err = stream.Recv()
		}
		if codeOf(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), []string{"access"}) {
			t.Errorf("watch without access: %v", err)
		}
	})
}

// TestWatchUnderConcurrentFilings: with reports committed concurrently
// through two processes, a watcher that stops halfway and resumes from its
// last cursor receives every report exactly once.
func TestWatchUnderConcurrentFilings(t *testing.T) {
	d := freshDB(t)
	env, t0 := start(t, d)
	other := env.Another(t)
	polda := reportsAs(t, env, "polda-kalimantan-timur")
	first := openWatch(t, polda, policeOfficer, "")
	facilities := []sinergiv1.ReportServiceClient{
		reportsAs(t, env, "lpka-tenggarong"), reportsAs(t, env, "lapas-tenggarong"),
		sinergiv1.NewReportServiceClient(env.ConnAsTo(t, other.Addr(), "lpp-tenggarong")),
		sinergiv1.NewReportServiceClient(env.ConnAsTo(t, other.Addr(), "lapas-tenggarong")),
	}
	const perWriter = 15
	filed := make(chan string, len(facilities)*2*perWriter)
	errs := make(chan error, len(facilities)*2)
	for i := range len(facilities) * 2 {
		go func() {
			c := facilities[i%len(facilities)]
			for range perWriter {
				req := submission(t, t0)
				req.Severity = sinergiv1.ReportSeverity_REPORT_SEVERITY_LOW
				resp, err := c.SubmitReport(context.Background(), req)
				if err != nil {
					errs <- err
					return
				}
				filed <- resp.GetReport().GetId()
			}
			errs <- nil
		}()
	}
	total := len(facilities) * 2 * perWriter
	seen := map[string]int{}
	half := first.nextIDs(total / 2)
	for _, id := range half {
		seen[id]++
	}
	first.cancel()
	resumed := openWatch(t, polda, policeOfficer, first.cursor)
	for _, id := range resumed.nextIDs(total - total/2) {
		seen[id]++
	}
	for range len(facilities) * 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(filed)
	want := map[string]int{}
	for id := range filed {
		want[id] = 1
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("reports delivered (-filed +delivered):\n%s", diff)
	}
}

// nextIDs receives n events and returns their report ids.
func (w *watch) nextIDs(n int) []string {
	w.t.Helper()
	var out []string
	for range n {
		msg, err := w.stream.Recv()
		if err != nil {
			w.t.Fatalf("after %d events: %v", len(out), err)
		}
		w.cursor = msg.GetCursor()
		out = append(out, msg.GetEvent().GetReportId())
	}
	return out
}
