package custody_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

const correctionType = sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_CORRECTION

// nextAbout reads w until an event of record id.
func (w *watcher) nextAbout(id string) *sinergiv1.WatchCustodyEventsResponse {
	w.t.Helper()
	for {
		if m := w.next(1)[0]; m.GetEvent().GetRecordId() == id {
			return m
		}
	}
}

// TestIdempotentEvents: an event sent twice with its key is recorded once,
// and the retry gets the event recorded the first time, even after the
// record moved on; the key reused for another event is ALREADY_EXISTS; a
// malformed key is INVALID_ARGUMENT.
func TestIdempotentEvents(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	metro := custodyAs(t, env, "lapas-metro")
	at := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	rec := admitted(t, metro, person(unique("ID."), "Bambang Irawan", date("1979-05-05"), sinergiv1.Sex_SEX_MALE, "187201"), at)
	key := unique("lapas-metro:court:")
	req := &sinergiv1.RecordCustodyEventRequest{RecordId: rec.GetId(), IdempotencyKey: key,
		Event: &sinergiv1.CustodyEvent{Type: courtApp, EffectiveTime: timestamppb.New(at.Add(time.Hour))}}
	first, err := metro.RecordCustodyEvent(ctx, req)
	if err != nil || first.GetReplayed() {
		t.Fatalf("first: %v, %v", first, err)
	}
	if _, err := event(ctx, metro, rec.GetId(), release, at.Add(2*time.Hour), withReason(sinergiv1.ReleaseReason_RELEASE_REASON_PAROLE, "")); err != nil {
		t.Fatal(err)
	}
	again, err := metro.RecordCustodyEvent(ctx, req)
	if err != nil || !again.GetReplayed() || again.GetEvent().GetId() != first.GetEvent().GetId() ||
		again.GetRecord().GetStatus() != sinergiv1.CustodyStatus_CUSTODY_STATUS_RELEASED {
		t.Fatalf("retry: %v, %v; want the first event, replayed, and the record as it stands", again, err)
	}
	other := &sinergiv1.RecordCustodyEventRequest{RecordId: rec.GetId(), IdempotencyKey: key,
		Event: &sinergiv1.CustodyEvent{Type: admission, EffectiveTime: timestamppb.New(at.Add(3 * time.Hour))}}
	if _, err := metro.RecordCustodyEvent(ctx, other); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("the key for another event: %v, want ALREADY_EXISTS", err)
	}
	other.IdempotencyKey = "short"
	if _, err := metro.RecordCustodyEvent(ctx, other); status.Code(err) != codes.InvalidArgument || !slices.Equal(validate.FieldsOf(err), []string{"idempotency_key"}) {
		t.Fatalf("a malformed key: %v", err)
	}
	events, err := metro.ListCustodyEvents(ctx, &sinergiv1.ListCustodyEventsRequest{Access: warden, RecordId: rec.GetId()})
	if err != nil || len(events.GetEvents()) != 3 {
		t.Fatalf("events: %v, %v; want admission, court appearance and release once each", events, err)
	}
}

// TestCorrectedEvent is the false release notice: Lapas Cipinang records a
// release by mistake, and Polres Metro, which watches the person's NIK
// from Lampung, is told. The facility corrects it: the release stays in the history, voided, the record is
// held again, and the correction reaches the same watcher, in order,
// naming the event it voids and why. Only the latest event in force can be
// corrected, once, with a reason; then the facility records what happened.
func TestCorrectedEvent(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	cipinang := custodyAs(t, env, "lapas-cipinang")
	police := custodyAs(t, env, "polres-metro")
	at := time.Now().Add(-72 * time.Hour).Truncate(time.Second)
	p := person(unique("CR."), "Surya Darmawan", date("1983-08-08"), sinergiv1.Sex_SEX_MALE, "317501")
	if _, err := police.AddWatch(ctx, &sinergiv1.AddWatchRequest{Access: investigator, Nik: p.GetIdentity().GetNik(), Reason: "DPO perkara LP/B/123",
		ExpireTime: timestamppb.New(time.Now().Add(24 * time.Hour))}); err != nil {
		t.Fatal(err)
	}
	w := watch(t, ctx, police, analyst, "")
	rec := admitted(t, cipinang, p, at)
	admit := w.nextAbout(rec.GetId())
	court, err := event(ctx, cipinang, rec.GetId(), courtApp, at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := event(ctx, cipinang, rec.GetId(), release, at.Add(2*time.Hour), withReason(sinergiv1.ReleaseReason_RELEASE_REASON_END_OF_SENTENCE, ""))
	if err != nil {
		t.Fatal(err)
	}
	if got := w.nextAbout(rec.GetId()); got.GetEvent().GetId() != wrong.GetEvent().GetId() {
		t.Fatalf("the watcher was told %v, want the release", got)
	}

	correct := func(id int64, reason string) (*sinergiv1.RecordCustodyEventResponse, error) {
		return event(ctx, cipinang, rec.GetId(), correctionType, time.Now(), func(e *sinergiv1.CustodyEvent) {
			e.CorrectsEventId, e.CorrectionReason = id, reason
		})
	}
	_, err = correct(wrong.GetEvent().GetId(), "")
	if status.Code(err) != codes.InvalidArgument || !slices.Equal(validate.FieldsOf(err), []string{"event.correction_reason"}) {
		t.Fatalf("without a reason: %v", err)
	}
	_, err = correct(0, "salah input")
	if status.Code(err) != codes.InvalidArgument || !slices.Equal(validate.FieldsOf(err), []string{"event.corrects_event_id"}) {
		t.Fatalf("naming no event: %v", err)
	}
	if _, err := correct(court.GetEvent().GetId(), "salah input"); status.Code(err) != codes.FailedPrecondition ||
		!strings.Contains(err.Error(), "latest event in force") {
		t.Fatalf("an earlier event: %v, want FAILED_PRECONDITION naming the latest", err)
	}
	fixed, err := correct(wrong.GetEvent().GetId(), "pembebasan salah input: belum habis masa pidana")
	if err != nil {
		t.Fatal(err)
	}
	if fixed.GetRecord().GetStatus() != sinergiv1.CustodyStatus_CUSTODY_STATUS_HELD || fixed.GetEvent().GetStatusAfter() != sinergiv1.CustodyStatus_CUSTODY_STATUS_HELD ||
		fixed.GetEvent().GetCorrectsEventId() != wrong.GetEvent().GetId() || !fixed.GetRecord().GetHeldSince().AsTime().Equal(admit.GetEvent().GetEffectiveTime().AsTime()) {
		t.Fatalf("corrected: %v, want held again since the admission", fixed)
	}
	told := w.nextAbout(rec.GetId())
	if told.GetEvent().GetType() != correctionType || told.GetEvent().GetCorrectsEventId() != wrong.GetEvent().GetId() ||
		told.GetEvent().GetCorrectionReason() == "" || told.GetReason() != sinergiv1.DeliveryReason_DELIVERY_REASON_WATCH {
		t.Fatalf("the watcher was told %v, want the correction", told)
	}
	if _, err := correct(wrong.GetEvent().GetId(), "lagi"); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("corrected twice: %v", err)
	}
	events, err := cipinang.ListCustodyEvents(ctx, &sinergiv1.ListCustodyEventsRequest{Access: warden, RecordId: rec.GetId()})
	if err != nil || len(events.GetEvents()) != 4 || events.GetEvents()[2].GetCorrectedByEventId() != fixed.GetEvent().GetId() ||
		events.GetEvents()[1].GetCorrectedByEventId() != 0 {
		t.Fatalf("history: %v, %v; want every event kept, the release marked corrected", events, err)
	}
	// The facility goes on from the corrected history.
	if r, err := event(ctx, cipinang, rec.GetId(), courtApp, at.Add(3*time.Hour)); err != nil || r.GetRecord().GetStatus() != sinergiv1.CustodyStatus_CUSTODY_STATUS_HELD {
		t.Fatalf("after the correction: %v, %v", r, err)
	}
	p2, err := police.CheckPresence(ctx, &sinergiv1.CheckPresenceRequest{Access: analyst, Nik: p.GetIdentity().GetNik()})
	if err != nil || !p2.GetHeld() {
		t.Fatalf("presence after the correction: %v, %v, want held", p2, err)
	}
}
