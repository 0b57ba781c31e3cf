package custody_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

const (
	admission = sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_ADMISSION
	transOut  = sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_TRANSFER_OUT
	transIn   = sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_TRANSFER_IN
	release   = sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_RELEASE
	escape    = sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_ESCAPE
	recapture = sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_RECAPTURE
	death     = sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_DEATH
	courtApp  = sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_COURT_APPEARANCE
	hospital  = sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_HOSPITAL

	registeredSt  = sinergiv1.CustodyStatus_CUSTODY_STATUS_REGISTERED
	heldSt        = sinergiv1.CustodyStatus_CUSTODY_STATUS_HELD
	transferredSt = sinergiv1.CustodyStatus_CUSTODY_STATUS_TRANSFERRED_OUT
	releasedSt    = sinergiv1.CustodyStatus_CUSTODY_STATUS_RELEASED
	escapedSt     = sinergiv1.CustodyStatus_CUSTODY_STATUS_ESCAPED
	deceasedSt    = sinergiv1.CustodyStatus_CUSTODY_STATUS_DECEASED
)

func withReason(r sinergiv1.ReleaseReason, note string) func(*sinergiv1.CustodyEvent) {
	return func(e *sinergiv1.CustodyEvent) { e.ReleaseReason, e.ReleaseNote = r, note }
}

func toward(facility, registerNumber string) func(*sinergiv1.CustodyEvent) {
	return func(e *sinergiv1.CustodyEvent) {
		e.CounterpartFacilityCode, e.CounterpartRegisterNumber = facility, registerNumber
	}
}

// TestEventTransitions runs records through sequences of events: each step
// either moves the status as the transition table says or is refused with
// FAILED_PRECONDITION and its reason, leaving the record as it was.
func TestEventTransitions(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	c := custodyAs(t, env, "lapas-metro")
	t0 := time.Now().Add(-100 * 24 * time.Hour).Truncate(time.Second)
	day := func(n int) time.Time { return t0.Add(time.Duration(n) * 24 * time.Hour) }

	type step struct {
		typ    sinergiv1.CustodyEventType
		at     time.Time
		mod    func(*sinergiv1.CustodyEvent)
		status sinergiv1.CustodyStatus // after the step; 0 when refused
		reason string                  // a piece of the refusal
	}
	none := func(*sinergiv1.CustodyEvent) {}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"admission, court, hospital, parole", []step{
			{admission, day(0), none, heldSt, ""},
			{courtApp, day(1), none, heldSt, ""},
			{hospital, day(2), none, heldSt, ""},
			{release, day(3), withReason(sinergiv1.ReleaseReason_RELEASE_REASON_PAROLE, ""), releasedSt, ""},
			{release, day(4), withReason(sinergiv1.ReleaseReason_RELEASE_REASON_END_OF_SENTENCE, ""), 0, "already released"},
			{courtApp, day(4), none, 0, "released"},
			{admission, day(5), none, heldSt, ""},
		}},
		{"escape and recapture", []step{
			{escape, day(0), none, 0, "registered"},
			{admission, day(0), none, heldSt, ""},
			{admission, day(1), none, 0, "already held"},
			{escape, day(1), none, escapedSt, ""},
			{release, day(2), withReason(sinergiv1.ReleaseReason_RELEASE_REASON_ACQUITTAL, ""), 0, "escaped"},
			{recapture, day(3), none, heldSt, ""},
			{recapture, day(4), none, 0, "held"},
		}},
		{"death ends everything", []step{
			{admission, day(0), none, heldSt, ""},
			{escape, day(1), none, escapedSt, ""},
			{death, day(2), none, deceasedSt, ""},
			{recapture, day(3), none, 0, "deceased"},
			{admission, day(3), none, 0, "deceased"},
		}},
		{"events in order", []step{
			{admission, day(10), none, heldSt, ""},
			{courtApp, day(9), none, 0, "recorded in order"},
			{release, day(11), withReason(sinergiv1.ReleaseReason_RELEASE_REASON_OTHER, "pemindahan ke rumah sakit jiwa"), releasedSt, ""},
		}},
		{"transfer in with no transfer out", []step{
			{transIn, day(0), toward("lapas-cipinang", "NO.SUCH.1"), 0, "no transfer out"},
		}},
		{"transfer out needs someone held", []step{
			{transOut, day(0), toward("lapas-cipinang", ""), 0, "registered"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := c.UpsertCustodyRecord(ctx, &sinergiv1.UpsertCustodyRecordRequest{Record: person(unique("EV."), "Heru Purnomo", date("1983-05-05"), sinergiv1.Sex_SEX_MALE, "187201")})
			if err != nil {
				t.Fatal(err)
			}
			id := rec.GetRecord().GetId()
			current := registeredSt
			applied := 0
			for i, s := range tc.steps {
				resp, err := event(ctx, c, id, s.typ, s.at, s.mod)
				if s.status == 0 {
					if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), s.reason) {
						t.Fatalf("step %d (%v): %v, want FAILED_PRECONDITION about %q", i, s.typ, err, s.reason)
					}
				} else {
					if err != nil {
						t.Fatalf("step %d (%v): %v", i, s.typ, err)
					}
					applied++
					current = s.status
					if resp.GetEvent().GetStatusAfter() != s.status || resp.GetRecord().GetStatus() != s.status ||
						!resp.GetRecord().GetUpdateTime().IsValid() || resp.GetEvent().GetRecordId() != id {
						t.Fatalf("step %d (%v): event %v record status %v, want %v", i, s.typ, resp.GetEvent(), resp.GetRecord().GetStatus(), s.status)
					}
				}
				got, err := custodyAs(t, env, "lapas-metro").GetCustodyRecord(ctx, &sinergiv1.GetCustodyRecordRequest{Access: warden, Id: id})
				if err != nil || got.GetRecord().GetStatus() != current {
					t.Fatalf("after step %d: status %v (%v), want %v", i, got.GetRecord().GetStatus(), err, current)
				}
			}
			// Refused steps left no event behind.
			evs, err := c.ListCustodyEvents(ctx, &sinergiv1.ListCustodyEventsRequest{Access: warden, RecordId: id})
			if err != nil || len(evs.GetEvents()) != applied {
				t.Fatalf("%d events (%v), want %d", len(evs.GetEvents()), err, applied)
			}
		})
	}

	t.Run("held since follows admission", func(t *testing.T) {
		rec := admitted(t, c, person(unique("EV."), "Heru Purnomo", date("1983-05-05"), sinergiv1.Sex_SEX_MALE, "187201"), day(1))
		if !rec.GetHeldSince().AsTime().Equal(day(1)) || !rec.GetStatusTime().AsTime().Equal(day(1)) {
			t.Fatalf("held since %v, status time %v, want %v", rec.GetHeldSince().AsTime(), rec.GetStatusTime().AsTime(), day(1))
		}
	})

	t.Run("transfer between facilities", func(t *testing.T) {
		cipinang := custodyAs(t, env, "lapas-cipinang")
		permisan := custodyAs(t, env, "lapas-permisan")
		from := admitted(t, c, person(unique("TR."), "Ilham Tanjung", date("1977-12-01"), sinergiv1.Sex_SEX_MALE, "187201"), day(0))
		// The receiving facility registers the person under its own number.
		toRec, err := cipinang.UpsertCustodyRecord(ctx, &sinergiv1.UpsertCustodyRecordRequest{Record: person(unique("TR."), "Ilham Tanjung", date("1977-12-01"), sinergiv1.Sex_SEX_MALE, "317501")})
		if err != nil {
			t.Fatal(err)
		}
		to := toRec.GetRecord().GetId()
		inFrom := toward("lapas-metro", from.GetRegisterNumber())

		if _, err := event(ctx, cipinang, to, transIn, day(2), inFrom); status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("transfer in before the transfer out: %v", err)
		}
		out, err := event(ctx, c, from.GetId(), transOut, day(2), toward("lapas-cipinang", ""))
		if err != nil || out.GetRecord().GetStatus() != transferredSt || out.GetEvent().GetCounterpartFacilityCode() != "lapas-cipinang" {
			t.Fatalf("transfer out: %v %v", out, err)
		}
		if _, err := event(ctx, permisan, to, transIn, day(3), inFrom); status.Code(err) != codes.NotFound {
			t.Fatalf("transfer in on another facility's record: %v", err)
		}
		permisanRec, err := permisan.UpsertCustodyRecord(ctx, &sinergiv1.UpsertCustodyRecordRequest{Record: person(unique("TR."), "Ilham Tanjung", date("1977-12-01"), sinergiv1.Sex_SEX_MALE, "330101")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := event(ctx, permisan, permisanRec.GetRecord().GetId(), transIn, day(3), inFrom); status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("transfer in at a facility the person was not sent to: %v", err)
		}
		if _, err := event(ctx, cipinang, to, transIn, day(1), inFrom); status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("transfer in before it left: %v", err)
		}
		in, err := event(ctx, cipinang, to, transIn, day(3), inFrom)
		if err != nil || in.GetRecord().GetStatus() != heldSt || !in.GetRecord().GetHeldSince().AsTime().Equal(day(3)) {
			t.Fatalf("transfer in: %v %v", in, err)
		}
		// Once received, a transfer cannot be received again.
		again, err := cipinang.UpsertCustodyRecord(ctx, &sinergiv1.UpsertCustodyRecordRequest{Record: person(unique("TR."), "Ilham Tanjung", date("1977-12-01"), sinergiv1.Sex_SEX_MALE, "317501")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := event(ctx, cipinang, again.GetRecord().GetId(), transIn, day(4), inFrom); status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("second transfer in of one transfer out: %v", err)
		}
		// The origin keeps its record, transferred out; its events read in order.
		evs, err := c.ListCustodyEvents(ctx, &sinergiv1.ListCustodyEventsRequest{Access: warden, RecordId: from.GetId(), PageSize: 1})
		if err != nil || len(evs.GetEvents()) != 1 || evs.GetEvents()[0].GetType() != admission || evs.GetNextPageToken() == "" {
			t.Fatalf("first page: %v %v", evs, err)
		}
		evs, err = c.ListCustodyEvents(ctx, &sinergiv1.ListCustodyEventsRequest{Access: warden, RecordId: from.GetId(), PageSize: 1, PageToken: evs.GetNextPageToken()})
		if err != nil || len(evs.GetEvents()) != 1 || evs.GetEvents()[0].GetType() != transOut || evs.GetNextPageToken() != "" {
			t.Fatalf("second page: %v %v", evs, err)
		}
	})

	t.Run("by register number", func(t *testing.T) {
		rec, err := c.UpsertCustodyRecord(ctx, &sinergiv1.UpsertCustodyRecordRequest{Record: person(unique("EV."), "Heru Purnomo", date("1983-05-05"), sinergiv1.Sex_SEX_MALE, "187201")})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.RecordCustodyEvent(ctx, &sinergiv1.RecordCustodyEventRequest{RegisterNumber: rec.GetRecord().GetRegisterNumber(),
			Event: &sinergiv1.CustodyEvent{Type: admission, EffectiveTime: rec.GetRecord().GetCreateTime()}})
		if err != nil || resp.GetRecord().GetId() != rec.GetRecord().GetId() {
			t.Fatalf("%v %v", resp, err)
		}
		// Another facility's register number is simply not found.
		_, err = custodyAs(t, env, "lapas-cipinang").RecordCustodyEvent(ctx, &sinergiv1.RecordCustodyEventRequest{RegisterNumber: rec.GetRecord().GetRegisterNumber(),
			Event: &sinergiv1.CustodyEvent{Type: courtApp, EffectiveTime: rec.GetRecord().GetCreateTime()}})
		if status.Code(err) != codes.NotFound {
			t.Fatalf("another facility's register number: %v", err)
		}
	})

	t.Run("invalid events name the field", func(t *testing.T) {
		rec := admitted(t, c, person(unique("EV."), "Heru Purnomo", date("1983-05-05"), sinergiv1.Sex_SEX_MALE, "187201"), day(0))
		for _, tc := range []struct {
			name   string
			typ    sinergiv1.CustodyEventType
			at     time.Time
			mod    func(*sinergiv1.CustodyEvent)
			fields []string
		}{
			{"release without reason", release, day(1), none, []string{"event.release_reason"}},
			{"release other without note", release, day(1), withReason(sinergiv1.ReleaseReason_RELEASE_REASON_OTHER, ""), []string{"event.release_note"}},
			{"reason on an escape", escape, day(1), withReason(sinergiv1.ReleaseReason_RELEASE_REASON_PAROLE, ""), []string{"event.release_reason"}},
			{"transfer out nowhere", transOut, day(1), none, []string{"event.counterpart_facility_code"}},
			{"transfer out to a police unit", transOut, day(1), toward("polres-metro", ""), []string{"event.counterpart_facility_code"}},
			{"transfer out to itself", transOut, day(1), toward("lapas-metro", ""), []string{"event.counterpart_facility_code"}},
			{"transfer in without origin number", transIn, day(1), toward("lapas-cipinang", ""), []string{"event.counterpart_register_number"}},
			{"no type", 0, day(1), none, []string{"event.type"}},
			{"in the future", courtApp, time.Now().Add(24 * time.Hour), none, []string{"event.effective_time"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := event(ctx, c, rec.GetId(), tc.typ, tc.at, tc.mod)
				if status.Code(err) != codes.InvalidArgument || !cmp.Equal(validate.FieldsOf(err), tc.fields) {
					t.Fatalf("%v (fields %v), want InvalidArgument naming %v", err, validate.FieldsOf(err), tc.fields)
				}
			})
		}
		_, err := c.RecordCustodyEvent(ctx, &sinergiv1.RecordCustodyEventRequest{Event: &sinergiv1.CustodyEvent{Type: courtApp}})
		if !cmp.Equal(validate.FieldsOf(err), []string{"record_id", "event.effective_time"}) {
			t.Fatalf("no record, no time: %v", err)
		}
	})

	t.Run("events cannot be changed behind the service's back", func(t *testing.T) {
		// The application role may insert events but never change or delete them.
		conn, err := env.Server.Store.Pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		if _, err := conn.Exec(ctx, `UPDATE custody_events SET type = 'RELEASE' WHERE id = (SELECT max(id) FROM custody_events)`); err == nil {
			t.Fatal("the application role updated an event")
		}
		if _, err := conn.Exec(ctx, `DELETE FROM custody_records WHERE id = (SELECT record_id FROM custody_events LIMIT 1)`); err == nil {
			t.Fatal("the application role deleted a record")
		}
		if _, err := env.Owner.Pool.Exec(ctx, `DELETE FROM custody_events WHERE id = (SELECT max(id) FROM custody_events)`); err == nil {
			t.Fatal("even the owner deleted an event: the trigger is missing")
		}
	})
}
