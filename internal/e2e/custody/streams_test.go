package custody_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sinergi-id/sinergi/internal/api"
	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/server"
	"github.com/sinergi-id/sinergi/internal/servertest"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// resumeCursor is the cursor an error that ends a stream tells the client
// to resume from, with the reason it gives; it fails the test when the
// error is not code with both.
func resumeCursor(t *testing.T, err error, code codes.Code, reason string) string {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("stream ended with %v, want %v", err, code)
	}
	for _, d := range status.Convert(err).Details() {
		if e, ok := d.(*errdetails.ErrorInfo); ok && e.GetReason() == reason && e.GetMetadata()["cursor"] != "" {
			if !strings.Contains(err.Error(), e.GetMetadata()["cursor"]) {
				t.Fatalf("the message %q does not name the cursor", err)
			}
			return e.GetMetadata()["cursor"]
		}
	}
	t.Fatalf("stream ended with %v, without an ErrorInfo %s naming a cursor", err, reason)
	return ""
}

// drain reads w until its stream ends, returning the event ids received
// and the error that ended it.
func drain(w *watcher) ([]int64, error) {
	var got []int64
	for {
		m, err := w.stream.Recv()
		if err != nil {
			return got, err
		}
		got = append(got, m.GetEvent().GetId())
		w.cursor = m.GetCursor()
	}
}

// facilityEvents are the ids of facility's n events in the order
// watchers receive them, once all n are in that order.
func facilityEvents(t *testing.T, env *servertest.Env, facility string, n int) []int64 {
	t.Helper()
	var ids []int64
	waitFor(t, "the events to be ordered", func() bool {
		ids = orderedEvents(t, env, facility)
		return len(ids) >= n
	})
	if len(ids) != n {
		t.Fatalf("%d events, want %d", len(ids), n)
	}
	return ids
}

func orderedEvents(t *testing.T, env *servertest.Env, facility string) []int64 {
	t.Helper()
	rows, err := env.Owner.Pool.Query(context.Background(),
		`SELECT event_id FROM custody_event_order WHERE facility_code = $1 ORDER BY seq`, facility)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func roster(prefix string, n int) []*sinergiv1.CustodyRecord {
	var recs []*sinergiv1.CustodyRecord
	for i := range n {
		recs = append(recs, person(fmt.Sprintf("%s.%05d", prefix, i), "Teguh Wahyudi", date("1980-01-01").AddDate(0, 0, i), sinergiv1.Sex_SEX_MALE, "187201"))
	}
	return recs
}

// TestStreamBudget: watchers that stop reading share one budget (here
// none beyond each stream's allowance); with it spent, each is told to
// come back with its cursor (long before its stall timeout, which is set
// out of reach), while a watcher that reads receives every event. What they held is given back, and each stalled
// watcher resumes from its cursor with nothing lost or repeated.
func TestStreamBudget(t *testing.T) {
	env := servertest.Start(t, freshDB(t), servertest.Options{Configure: func(c *server.Config) {
		c.StreamBudgetBytes = 1 // each stream holds its allowance, and no more
	}})
	api.SetWatchTuning(api.WatchTuning{Stall: time.Hour})
	t.Cleanup(func() { api.SetWatchTuning(api.WatchTuning{}) })
	ctx := context.Background()

	live := watch(t, ctx, custodyAs(t, env, "polres-metro"), analyst, "")
	var stalled []*watcher
	for range 4 {
		stalled = append(stalled, watch(t, ctx, dialSmallWindow(t, env, "polres-metro"), analyst, ""))
	}
	const n = 4000
	if resp, err := upload(ctx, t, custodyAs(t, env, "lapas-metro"), nil, roster("SB", n)); err != nil || resp.GetInserted() != n {
		t.Fatalf("upload: %v %v", resp, err)
	}
	want := facilityEvents(t, env, "lapas-metro", n)
	if diff := cmp.Diff(want, eventIDs(live.next(n))); diff != "" {
		t.Fatalf("the live watcher's events (-want +got):\n%s", diff)
	}
	// The stalled watchers are cut once they have taken nothing for the
	// streams' Pressure while the budget is spent: only the live one stays.
	waitFor(t, "the stalled watchers to be told to resume", func() bool { return env.Server.Deps.Streams.OpenBy("polres-metro") == 1 })
	for i, w := range stalled {
		got, err := drain(w)
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("stalled watcher %d: %d of %d events, then %v, want RESOURCE_EXHAUSTED", i, len(got), n, err)
		}
		cursor := resumeCursor(t, err, codes.ResourceExhausted, "WATCHER_TOO_SLOW")
		if cursor != w.cursor || len(got) >= n {
			t.Fatalf("stalled watcher %d: %d events, then told to resume from %q; last received %q", i, len(got), cursor, w.cursor)
		}
		r := watch(t, ctx, custodyAs(t, env, "polres-metro"), analyst, cursor)
		got = append(got, eventIDs(r.next(n-len(got)))...)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("stalled watcher %d, across its two streams (-want +got):\n%s", i, diff)
		}
		r.cancel()
	}
	waitFor(t, "the budget to be given back", func() bool { return env.Server.Deps.Streams.Held() == 0 })
}

// TestStreamsPerInstitution: past its cap an institution's next stream is
// refused with RESOURCE_EXHAUSTED saying why; other institutions are not
// affected, and closing a stream makes room.
func TestStreamsPerInstitution(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{Configure: func(c *server.Config) { c.StreamsPerInstitution = 3 }})
	ctx := context.Background()
	metro := custodyAs(t, env, "polres-metro")
	var open []*watcher
	for range 3 {
		open = append(open, watch(t, ctx, metro, analyst, ""))
	}
	refused := func() error {
		st, err := metro.WatchCustodyEvents(ctx, &sinergiv1.WatchCustodyEventsRequest{Access: analyst})
		if err != nil {
			return err
		}
		_, err = st.Recv()
		return err
	}
	err := refused()
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "polres-metro has 3 streams open") {
		t.Fatalf("fourth stream: %v, want RESOURCE_EXHAUSTED naming the cap", err)
	}
	// Another institution's streams are counted apart.
	other := watch(t, ctx, custodyAs(t, env, "polda-lampung"), analyst, "")
	other.cancel()
	// Reports count too: a stream is a stream.
	rs, err := sinergiv1.NewReportServiceClient(env.ConnAs(t, "polres-metro")).WatchReports(ctx, &sinergiv1.WatchReportsRequest{Access: analyst})
	if err == nil {
		_, err = rs.Recv()
	}
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a report watch past the cap: %v, want RESOURCE_EXHAUSTED", err)
	}
	open[0].cancel()
	waitFor(t, "room for another stream", func() bool {
		st, err := metro.WatchCustodyEvents(ctx, &sinergiv1.WatchCustodyEventsRequest{Access: analyst})
		if err != nil {
			return false
		}
		_, err = st.Recv()
		return err == nil
	})
}

// TestShutdownEndsStreams: on shutdown every open stream ends with
// UNAVAILABLE and its cursor, a stalled one included, without waiting
// out the shutdown grace (an hour here); every stream's audit record is
// written before the process lets go of the trail; and a watcher that
// resumes from its cursor on another server loses and repeats nothing.
func TestShutdownEndsStreams(t *testing.T) {
	env := servertest.Start(t, freshDB(t), servertest.Options{Configure: func(c *server.Config) { c.ShutdownGrace = time.Hour }})
	ctx := context.Background()

	rctx, readerID := withRequestID(ctx)
	reader := watch(t, rctx, custodyAs(t, env, "polres-metro"), analyst, "")
	sctx, stalledID := withRequestID(ctx)
	stalled := watch(t, sctx, dialSmallWindow(t, env, "polres-metro"), analyst, "")
	pctx, reportsID := withRequestID(ctx)
	reports, err := sinergiv1.NewReportServiceClient(env.ConnAs(t, "polres-metro")).WatchReports(pctx, &sinergiv1.WatchReportsRequest{Access: analyst})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reports.Recv(); err != nil {
		t.Fatal(err)
	}
	const n = 1200
	if resp, err := upload(ctx, t, custodyAs(t, env, "lapas-metro"), nil, roster("SD", n)); err != nil || resp.GetInserted() != n {
		t.Fatalf("upload: %v %v", resp, err)
	}
	want := facilityEvents(t, env, "lapas-metro", n)
	got := eventIDs(reader.next(100))

	stopped := make(chan struct{})
	go func() { env.Server.Stop(); close(stopped) }()
	more, err := drain(reader)
	got = append(got, more...)
	cursor := resumeCursor(t, err, codes.Unavailable, "SERVER_SHUTTING_DOWN")
	if cursor != reader.cursor {
		t.Fatalf("told to resume from %q, last received %q", cursor, reader.cursor)
	}
	if _, err := reports.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("report watch ended with %v, want UNAVAILABLE", err)
	}
	select {
	case <-stopped:
	case <-time.After(time.Minute):
		t.Fatal("Stop waited for the shutdown grace with a stalled stream open")
	}
	// The stalled watcher was ended too; it reads what reached it.
	if _, err := drain(stalled); err == nil {
		t.Fatal("the stalled stream did not end")
	}
	for _, id := range []string{readerID, stalledID, reportsID} {
		recs := auditOf(t, env, id)
		if len(recs) == 0 || recs[len(recs)-1].Status != codes.Unavailable.String() {
			t.Fatalf("stream %s's audit records %+v, want its end recorded UNAVAILABLE", id, recs)
		}
	}
	// The trail says what the reader was sent: the deliveries recorded,
	// less those its end record names as recorded but not sent.
	recs := auditOf(t, env, readerID)
	end := recs[len(recs)-1]
	unsent := 0
	if _, list, ok := strings.Cut(end.Reason, "not sent"); ok {
		_, list, _ = strings.Cut(list, "): ")
		if _, err := fmt.Sscanf(list, "%d,", &unsent); err != nil {
			t.Fatalf("end record %q: %v", end.Reason, err)
		}
	}
	recorded := 0
	for _, r := range recs[:len(recs)-1] {
		recorded += audit.DeliveriesIn(r.Reason)
	}
	if delivered := recorded - unsent; delivered != len(got) {
		t.Fatalf("the trail has %d deliveries to the reader (%d recorded in %d records, %d named unsent: %q), it received %d",
			delivered, recorded, len(recs)-1, unsent, end.Reason, len(got))
	}

	next := env.Another(t)
	r := watch(t, ctx, sinergiv1.NewCustodyServiceClient(env.ConnAsTo(t, next.Addr(), "polres-metro")), analyst, cursor)
	got = append(got, eventIDs(r.next(len(want)-len(got)))...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("events across the shutdown (-want +got):\n%s", diff)
	}
}

// TestWatchBeyondTheTail: the server keeps only its newest events in
// memory for its watchers (here 64); a watcher resuming from further back
// reads the older ones from the database and the newer from memory, and
// receives every event once, in order.
func TestWatchBeyondTheTail(t *testing.T) {
	api.SetWatchTuning(api.WatchTuning{Tail: 64, Batch: 50})
	t.Cleanup(func() { api.SetWatchTuning(api.WatchTuning{}) })
	env := servertest.Start(t, freshDB(t), servertest.Options{})
	ctx := context.Background()
	police := custodyAs(t, env, "polres-metro")
	first := watch(t, ctx, police, analyst, "")
	from := first.cursor
	first.cancel()
	const n = 500
	if resp, err := upload(ctx, t, custodyAs(t, env, "lapas-metro"), nil, roster("BT", n)); err != nil || resp.GetInserted() != n {
		t.Fatalf("upload: %v %v", resp, err)
	}
	want := facilityEvents(t, env, "lapas-metro", n)
	// A live watcher brings the tail up to the newest events.
	live := watch(t, ctx, police, analyst, "")
	if _, err := event(ctx, custodyAs(t, env, "lapas-metro"), admittedID(t, env), courtApp, time.Now()); err != nil {
		t.Fatal(err)
	}
	live.next(1)
	want = append(want, orderedEvents(t, env, "lapas-metro")[n])
	r := watch(t, ctx, police, analyst, from)
	if diff := cmp.Diff(want, eventIDs(r.next(n+1))); diff != "" {
		t.Fatalf("events from before the tail (-want +got):\n%s", diff)
	}
}

// admittedID is a record held at Lapas Metro.
func admittedID(t *testing.T, env *servertest.Env) string {
	t.Helper()
	var id string
	if err := env.Owner.Pool.QueryRow(context.Background(), `SELECT id::text FROM custody_records WHERE facility_code = 'lapas-metro' AND status = 'HELD' LIMIT 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}
