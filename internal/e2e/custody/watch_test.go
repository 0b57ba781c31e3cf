package custody_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/api"
	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/pki"
	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// watcher is one open watch stream.
type watcher struct {
	t      *testing.T
	stream sinergiv1.CustodyService_WatchCustodyEventsClient
	cancel context.CancelFunc
	// cursor is the last cursor received.
	cursor string
}

// watch opens a stream from cursor and reads its first message.
func watch(t *testing.T, ctx context.Context, c sinergiv1.CustodyServiceClient, ac *sinergiv1.AccessContext, cursor string) *watcher {
	t.Helper()
	// The deadline only ends a test that would otherwise hang.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	st, err := c.WatchCustodyEvents(ctx, &sinergiv1.WatchCustodyEventsRequest{Access: ac, Cursor: cursor})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	first, err := st.Recv()
	if err != nil {
		cancel()
		t.Fatalf("watch: %v", err)
	}
	if first.GetCursor() == "" || first.GetEvent() != nil {
		t.Fatalf("first message %v, want a cursor only", first)
	}
	w := &watcher{t: t, stream: st, cancel: cancel, cursor: first.GetCursor()}
	t.Cleanup(cancel)
	return w
}

// next reads n messages.
func (w *watcher) next(n int) []*sinergiv1.WatchCustodyEventsResponse {
	w.t.Helper()
	var out []*sinergiv1.WatchCustodyEventsResponse
	for range n {
		m, err := w.stream.Recv()
		if err != nil {
			w.t.Fatalf("after %d of %d messages: %v", len(out), n, err)
		}
		if m.GetCursor() == "" || m.GetEvent() == nil {
			w.t.Fatalf("message %v lacks a cursor or an event", m)
		}
		w.cursor = m.GetCursor()
		out = append(out, m)
	}
	return out
}

// eventIDs lists the event ids of messages.
func eventIDs(ms []*sinergiv1.WatchCustodyEventsResponse) []int64 {
	var out []int64
	for _, m := range ms {
		out = append(out, m.GetEvent().GetId())
	}
	return out
}

func ids(rs ...*sinergiv1.RecordCustodyEventResponse) []int64 {
	var out []int64
	for _, r := range rs {
		out = append(out, r.GetEvent().GetId())
	}
	return out
}

// TestWatchResume follows a police unit's stream through a disconnect, a
// server restart and a second server process: every event arrives once,
// in order, whichever process the watcher and the writer use.
func TestWatchResume(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	metro := custodyAs(t, env, "lapas-metro")
	t0 := time.Now().Add(-50 * 24 * time.Hour).Truncate(time.Second)
	at := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	must := func(r *sinergiv1.RecordCustodyEventResponse, err error) *sinergiv1.RecordCustodyEventResponse {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	wctx, rid := withRequestID(ctx)
	w := watch(t, wctx, custodyAs(t, env, "polres-metro"), analyst, "")
	rec, err := metro.UpsertCustodyRecord(ctx, &sinergiv1.UpsertCustodyRecordRequest{Record: person(unique("WR."), "Joko Susanto", date("1986-10-10"), sinergiv1.Sex_SEX_MALE, "187201")})
	if err != nil {
		t.Fatal(err)
	}
	id := rec.GetRecord().GetId()
	e1 := must(event(ctx, metro, id, admission, at(0)))
	e2 := must(event(ctx, metro, id, courtApp, at(1)))
	got := w.next(2)
	if diff := cmp.Diff(ids(e1, e2), eventIDs(got)); diff != "" {
		t.Fatalf("live events (-want +got):\n%s", diff)
	}
	if m := got[0]; m.GetReason() != sinergiv1.DeliveryReason_DELIVERY_REASON_JURISDICTION || m.GetSubject().GetFullName() != "Joko Susanto" ||
		m.GetSubject().GetNik() != rec.GetRecord().GetIdentity().GetNik() || m.GetIdentityMasked() || m.GetEvent().GetType() != admission ||
		m.GetEvent().GetRecordId() != id || m.GetEvent().GetRegisterNumber() != rec.GetRecord().GetRegisterNumber() {
		t.Fatalf("delivery %v", m)
	}
	// Each delivery was audited before it was sent, naming the record (a
	// record of several deliveries names it once for each).
	deliveries := 0
	for _, a := range auditOf(t, env, rid) {
		n := audit.DeliveriesIn(a.Reason)
		if cmp.Equal(a.Subjects, slices.Repeat([]string{subject(id)}, n)) && cmp.Equal(a.Agreements, []string{"pks-2025-kemenimipas-polri-data"}) &&
			a.Purpose == "INTELLIGENCE_ANALYSIS" && a.Operator == analyst.GetOperatorId() {
			deliveries += n
		}
	}
	if deliveries != 2 {
		t.Fatalf("%d delivery audit records, want 2: %+v", deliveries, auditOf(t, env, rid))
	}

	outer := t
	t.Run("after a disconnect", func(t *testing.T) {
		w.cancel()
		e3 := must(event(ctx, metro, id, hospital, at(2)))
		e4 := must(event(ctx, metro, id, release, at(3), withReason(sinergiv1.ReleaseReason_RELEASE_REASON_PAROLE, "")))
		w = watch(t, ctx, custodyAs(t, env, "polres-metro"), analyst, w.cursor)
		e5 := must(event(ctx, metro, id, admission, at(4)))
		if diff := cmp.Diff(ids(e3, e4, e5), eventIDs(w.next(3))); diff != "" {
			t.Fatalf("resumed (-want +got):\n%s", diff)
		}
	})

	t.Run("after a server restart", func(t *testing.T) {
		w.cancel()
		env.Restart(outer) // the new server outlives this subtest
		metro = custodyAs(outer, env, "lapas-metro")
		e6 := must(event(ctx, metro, id, courtApp, at(5)))
		w = watch(t, ctx, custodyAs(t, env, "polres-metro"), analyst, w.cursor)
		e7 := must(event(ctx, metro, id, hospital, at(6)))
		if diff := cmp.Diff(ids(e6, e7), eventIDs(w.next(2))); diff != "" {
			t.Fatalf("resumed after restart (-want +got):\n%s", diff)
		}
	})

	t.Run("two server processes", func(t *testing.T) {
		other := env.Another(t)
		onOther := sinergiv1.NewCustodyServiceClient(env.ConnAsTo(t, other.Addr(), "polres-metro"))
		w.cancel()
		w = watch(t, ctx, onOther, analyst, w.cursor)
		e8 := must(event(ctx, metro, id, courtApp, at(7))) // written through the first process
		e9 := must(event(ctx, sinergiv1.NewCustodyServiceClient(env.ConnAsTo(t, other.Addr(), "lapas-metro")), id, hospital, at(8)))
		if diff := cmp.Diff(ids(e8, e9), eventIDs(w.next(2))); diff != "" {
			t.Fatalf("across processes (-want +got):\n%s", diff)
		}
		// And a watcher on the first process sees the same, in the same order.
		w1 := watch(t, ctx, custodyAs(t, env, "polres-metro"), analyst, "")
		e10 := must(event(ctx, metro, id, courtApp, at(9)))
		if diff := cmp.Diff(ids(e10), eventIDs(w1.next(1))); diff != "" {
			t.Fatalf("first process (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(ids(e10), eventIDs(w.next(1))); diff != "" {
			t.Fatalf("second process (-want +got):\n%s", diff)
		}
	})

	t.Run("cursors are bound to their institution", func(t *testing.T) {
		for _, tc := range []struct{ as, cursor string }{
			{"polda-lampung", w.cursor},
			{"polres-metro", w.cursor[:len(w.cursor)-2] + "xx"},
			{"polres-metro", "1.2"},
		} {
			st, err := custodyAs(t, env, tc.as).WatchCustodyEvents(ctx, &sinergiv1.WatchCustodyEventsRequest{Access: analyst, Cursor: tc.cursor})
			if err == nil {
				_, err = st.Recv()
			}
			if status.Code(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), []string{"cursor"}) {
				t.Errorf("%s with cursor %q: %v, want InvalidArgument naming cursor", tc.as, tc.cursor, err)
			}
		}
	})
}

// TestWatchList puts people on a police unit's watch list: it is told of
// their admissions, transfers, releases and escapes anywhere, and only
// those, each delivery audited under the watch.
func TestWatchList(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	cipinang := custodyAs(t, env, "lapas-cipinang")
	permisan := custodyAs(t, env, "lapas-permisan")
	metro := custodyAs(t, env, "lapas-metro")
	police := custodyAs(t, env, "polres-metro")
	t0 := time.Now().Add(-20 * 24 * time.Hour).Truncate(time.Second)
	at := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	must := func(r *sinergiv1.RecordCustodyEventResponse, err error) *sinergiv1.RecordCustodyEventResponse {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	// Wanted in Lampung, held (soon) in Jakarta: out of Polres Metro's jurisdiction.
	wanted := person(unique("WL."), "Wahyu Simanjuntak", date("1981-03-03"), sinergiv1.Sex_SEX_MALE, "317501")
	q, err := cipinang.UpsertCustodyRecord(ctx, &sinergiv1.UpsertCustodyRecordRequest{Record: wanted})
	if err != nil {
		t.Fatal(err)
	}
	bystander, err := cipinang.UpsertCustodyRecord(ctx, &sinergiv1.UpsertCustodyRecordRequest{Record: person(unique("WL."), "Made Wibowo", date("1984-04-04"), sinergiv1.Sex_SEX_MALE, "317501")})
	if err != nil {
		t.Fatal(err)
	}
	added, err := police.AddWatch(ctx, &sinergiv1.AddWatchRequest{Access: investigator, Nik: wanted.GetIdentity().GetNik(), Reason: "DPO: wanted for UU 35/2009 Pasal 114",
		ExpireTime: timestamppb.New(time.Now().Add(30 * 24 * time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	wt := added.GetWatch()
	if wt.GetInstitutionCode() != "polres-metro" || wt.GetOperatorId() != investigator.GetOperatorId() || wt.GetPurpose() != investigator.GetPurpose() || wt.GetId() == "" {
		t.Fatalf("watch %v", wt)
	}
	list, err := police.ListWatches(ctx, &sinergiv1.ListWatchesRequest{Access: investigator})
	if err != nil || !slices.ContainsFunc(list.GetWatches(), func(x *sinergiv1.Watch) bool { return x.GetId() == wt.GetId() }) {
		t.Fatalf("list watches: %v %v", list, err)
	}

	wctx, rid := withRequestID(ctx)
	w := watch(t, wctx, police, analyst, "")
	a1 := must(event(ctx, cipinang, q.GetRecord().GetId(), admission, at(0)))
	must(event(ctx, cipinang, bystander.GetRecord().GetId(), admission, at(0))) // not watched, not in jurisdiction
	must(event(ctx, cipinang, q.GetRecord().GetId(), courtApp, at(1)))          // watched person, but not a watched event
	a2 := must(event(ctx, cipinang, q.GetRecord().GetId(), transOut, at(2), toward("lapas-permisan", "")))
	// Permisan records the same person (same NIK) under its own number.
	atPermisan := wanted
	atPermisan.RegisterNumber = unique("PM.")
	p, err := permisan.UpsertCustodyRecord(ctx, &sinergiv1.UpsertCustodyRecordRequest{Record: atPermisan})
	if err != nil {
		t.Fatal(err)
	}
	a3 := must(event(ctx, permisan, p.GetRecord().GetId(), transIn, at(3), toward("lapas-cipinang", q.GetRecord().GetRegisterNumber())))
	a4 := must(event(ctx, permisan, p.GetRecord().GetId(), escape, at(4)))
	// A sentinel in jurisdiction: nothing else may arrive before it.
	local := admitted(t, metro, person(unique("WL."), "Dimas Kusuma", date("1993-03-03"), sinergiv1.Sex_SEX_MALE, "187201"), at(5))
	got := w.next(5)
	if diff := cmp.Diff(ids(a1, a2, a3, a4), eventIDs(got[:4])); diff != "" {
		t.Fatalf("watched deliveries (-want +got):\n%s", diff)
	}
	if got[4].GetEvent().GetRecordId() != local.GetId() || got[4].GetReason() != sinergiv1.DeliveryReason_DELIVERY_REASON_JURISDICTION {
		t.Fatalf("sentinel %v", got[4])
	}
	for _, m := range got[:4] {
		if m.GetReason() != sinergiv1.DeliveryReason_DELIVERY_REASON_WATCH || m.GetWatchId() != wt.GetId() || m.GetSubject().GetNik() != wanted.GetIdentity().GetNik() {
			t.Fatalf("watched delivery %v", m)
		}
	}
	// Each watched delivery is audited under the watch: its officer,
	// purpose and case, the watch and the record as subjects.
	watched := 0
	for _, a := range auditOf(t, env, rid) {
		if slices.Contains(a.Subjects, "watch/"+wt.GetId()) {
			n := audit.DeliveriesIn(a.Reason)
			watched += n
			if a.Purpose != "CRIMINAL_INVESTIGATION" || a.Case != investigator.GetCaseReference() || a.Operator != investigator.GetOperatorId() ||
				!strings.Contains(a.Reason, "watch/"+wt.GetId()) || len(a.Subjects) != 2*n || !cmp.Equal(a.Agreements, []string{"pks-2025-kemenimipas-polri-data"}) {
				t.Errorf("watched delivery audit %+v", a)
			}
		}
	}
	if watched != 4 {
		t.Fatalf("%d watched deliveries audited, want 4", watched)
	}

	t.Run("by record, and removal", func(t *testing.T) {
		// A record out of jurisdiction cannot be watched by id: it answers
		// as a record that does not exist (watch its NIK instead).
		_, err := police.AddWatch(ctx, &sinergiv1.AddWatchRequest{Access: investigator, RecordId: bystander.GetRecord().GetId(), Reason: "saksi",
			ExpireTime: timestamppb.New(time.Now().Add(time.Hour))})
		if status.Code(err) != codes.NotFound {
			t.Fatalf("watch by the id of a record out of jurisdiction: %v, want NotFound", err)
		}
		byRecord, err := police.AddWatch(ctx, &sinergiv1.AddWatchRequest{Access: investigator, RecordId: local.GetId(), Reason: "saksi",
			ExpireTime: timestamppb.New(time.Now().Add(time.Hour))})
		if err != nil {
			t.Fatal(err)
		}
		r1 := must(event(ctx, metro, local.GetId(), release, at(6), withReason(sinergiv1.ReleaseReason_RELEASE_REASON_ACQUITTAL, "")))
		got := w.next(1)
		if diff := cmp.Diff(ids(r1), eventIDs(got)); diff != "" || got[0].GetReason() != sinergiv1.DeliveryReason_DELIVERY_REASON_WATCH ||
			got[0].GetWatchId() != byRecord.GetWatch().GetId() {
			t.Fatalf("watch by record: %v (-want +got):\n%s", got, diff)
		}
		if _, err := police.RemoveWatch(ctx, &sinergiv1.RemoveWatchRequest{Access: investigator, Id: byRecord.GetWatch().GetId()}); err != nil {
			t.Fatal(err)
		}
		must(event(ctx, cipinang, bystander.GetRecord().GetId(), courtApp, at(7))) // neither watched nor in jurisdiction
		again := must(event(ctx, metro, local.GetId(), admission, at(7)))
		got = w.next(1)
		if diff := cmp.Diff(ids(again), eventIDs(got)); diff != "" || got[0].GetReason() != sinergiv1.DeliveryReason_DELIVERY_REASON_JURISDICTION {
			t.Fatalf("after removal: %v (-want +got):\n%s", got, diff)
		}
		l, err := police.ListWatches(ctx, &sinergiv1.ListWatchesRequest{Access: investigator, IncludeInactive: true, PageSize: 1})
		if err != nil || len(l.GetWatches()) != 1 || l.GetNextPageToken() == "" {
			t.Fatalf("paged list: %v %v", l, err)
		}
		active, err := police.ListWatches(ctx, &sinergiv1.ListWatchesRequest{Access: investigator})
		if err != nil || slices.ContainsFunc(active.GetWatches(), func(x *sinergiv1.Watch) bool { return x.GetId() == byRecord.GetWatch().GetId() }) {
			t.Fatalf("removed watch still active: %v %v", active, err)
		}
	})

	t.Run("an expired watch tells nothing", func(t *testing.T) {
		env.Clock.Set(time.Now().Add(31 * 24 * time.Hour))
		defer env.Clock.Set(time.Time{})
		must(event(ctx, permisan, p.GetRecord().GetId(), recapture, at(8)))
		must(event(ctx, permisan, p.GetRecord().GetId(), release, at(9), withReason(sinergiv1.ReleaseReason_RELEASE_REASON_END_OF_SENTENCE, "")))
		sentinel := must(event(ctx, metro, local.GetId(), hospital, at(9)))
		if diff := cmp.Diff(ids(sentinel), eventIDs(w.next(1))); diff != "" {
			t.Fatalf("after expiry (-want +got):\n%s", diff)
		}
	})
}

// dialSmallWindow connects as code with the smallest flow-control windows,
// so that a consumer that does not read fills them quickly.
func dialSmallWindow(t *testing.T, env *servertest.Env, code string) sinergiv1.CustodyServiceClient {
	t.Helper()
	cfg, err := pki.ClientTLS(env.Files(code), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(env.Addr(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10), grpc.WithReadBufferSize(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return sinergiv1.NewCustodyServiceClient(conn)
}

// TestWatchSlowConsumer: a watcher that stops reading is ended with
// RESOURCE_EXHAUSTED and its cursor, rather than held in memory; resuming
// from the last message it received loses and repeats nothing.
func TestWatchSlowConsumer(t *testing.T) {
	env := servertest.Start(t, freshDB(t), servertest.Options{})
	api.SetWatchTuning(api.WatchTuning{Batch: 16, Queue: 8, Stall: 300 * time.Millisecond})
	t.Cleanup(func() { api.SetWatchTuning(api.WatchTuning{}) })
	ctx := context.Background()

	wctx, rid := withRequestID(ctx)
	w := watch(t, wctx, dialSmallWindow(t, env, "polres-metro"), analyst, "")
	const n = 1500
	var recs []*sinergiv1.CustodyRecord
	for i := range n {
		recs = append(recs, person(fmt.Sprintf("SL.%05d", i), "Teguh Wahyudi", date("1980-01-01").AddDate(0, 0, i), sinergiv1.Sex_SEX_MALE, "187201"))
	}
	resp, err := upload(ctx, t, custodyAs(t, env, "lapas-metro"), nil, recs)
	if err != nil || resp.GetInserted() != n {
		t.Fatalf("upload: %v %v", resp, err)
	}
	var want []int64
	rows, err := env.Owner.Pool.Query(ctx, `SELECT id FROM custody_events WHERE facility_code = 'lapas-metro' ORDER BY txid, id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	rows.Close()
	if len(want) != n {
		t.Fatalf("%d events, want %d", len(want), n)
	}

	// The watcher reads nothing until the server has given up on it.
	waitFor(t, "the slow watcher to be ended", func() bool {
		for _, a := range auditOf(t, env, rid) {
			if a.Status == "ResourceExhausted" {
				return true
			}
		}
		return false
	})
	var got []int64
	var endErr error
	for {
		m, err := w.stream.Recv()
		if err != nil {
			endErr = err
			break
		}
		got = append(got, m.GetEvent().GetId())
		w.cursor = m.GetCursor()
	}
	if status.Code(endErr) != codes.ResourceExhausted || len(got) == 0 || len(got) >= n {
		t.Fatalf("slow watcher got %d events then %v, want some, then RESOURCE_EXHAUSTED", len(got), endErr)
	}
	var info *errdetails.ErrorInfo
	for _, d := range status.Convert(endErr).Details() {
		if e, ok := d.(*errdetails.ErrorInfo); ok {
			info = e
		}
	}
	if info == nil || info.GetMetadata()["cursor"] != w.cursor || !strings.Contains(endErr.Error(), w.cursor) {
		t.Fatalf("the error names cursor %v (%v), want the last one received %q", info, endErr, w.cursor)
	}
	// Resuming from it delivers the rest, in order, nothing twice.
	api.SetWatchTuning(api.WatchTuning{})
	r := watch(t, ctx, custodyAs(t, env, "polres-metro"), analyst, w.cursor)
	got = append(got, eventIDs(r.next(n-len(got)))...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("all events across the two streams (-want +got):\n%s", diff)
	}
}

// TestEventsWaitForNothingElse: events are read in the order their
// transactions committed, each as soon as its own has: a session idle in
// a transaction, and a transaction that wrote an event and stays open, hold
// back no committed event; the late one is read once it commits, after
// the events that committed before it; one committed before the stream's
// start is not read; and no event is read twice.
func TestEventsWaitForNothingElse(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	metro := custodyAs(t, env, "lapas-metro")
	idle, err := env.Owner.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Rollback(ctx) //nolint:errcheck
	if _, err := idle.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	rec := admitted(t, metro, person(unique("ST."), "Sugeng Riyadi", date("1972-07-07"), sinergiv1.Sex_SEX_MALE, "187201"), time.Now().Add(-48*time.Hour))
	st := env.Server.Store
	read := func(pos store.EventPosition) []int64 {
		head, err := st.CustodyEventsHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.CustodyEventsAfter(ctx, pos, head.Seq, store.EventFilter{All: true})
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, se := range got {
			if se.Event.GetRecordId() == rec.GetId() {
				ids = append(ids, se.Event.GetId())
			}
		}
		return ids
	}
	// The admission is ordered before the stream starts: not read after it.
	waitFor(t, "the admission to be ordered", func() bool { return len(read(store.EventPosition{V: 2})) == 1 })
	pos, err := st.CustodyEventsHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	late, err := env.Owner.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Rollback(ctx) //nolint:errcheck
	var lateID int64
	if err := late.QueryRow(ctx, `INSERT INTO custody_events (record_id, facility_code, type, effective_time, status_after, record_time)
		VALUES ($1, 'lapas-metro', 'HOSPITAL', now() - interval '1 hour', 'HELD', now()) RETURNING id`, rec.GetId()).Scan(&lateID); err != nil {
		t.Fatal(err)
	}
	early, err := event(ctx, metro, rec.GetId(), courtApp, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	// Both open transactions stay open: the committed event is read anyway.
	waitFor(t, "the committed event, beside two open transactions", func() bool {
		return slices.Equal(read(pos), []int64{early.GetEvent().GetId()})
	})
	if err := late.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the late event once it committed", func() bool { return len(read(pos)) == 2 })
	if diff := cmp.Diff([]int64{early.GetEvent().GetId(), lateID}, read(pos)); diff != "" {
		t.Fatalf("read order (-want +got): the one committed first comes first\n%s", diff)
	}
	// A cursor of the old order is refused, not read from the beginning.
	c := custodyAs(t, env, "polres-metro")
	old, err := env.Server.Deps.Tokens.Seal("custody-watch|polres-metro", map[string]int64{"t": 1, "i": 1})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.WatchCustodyEvents(ctx, &sinergiv1.WatchCustodyEventsRequest{Access: analyst, Cursor: old})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a cursor of the old order: %v, want INVALID_ARGUMENT", err)
	}
}
