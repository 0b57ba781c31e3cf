package custody_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// incoming lists facility c's incoming transfers of record id.
func incoming(t *testing.T, c sinergiv1.CustodyServiceClient, id string) []*sinergiv1.IncomingTransfer {
	t.Helper()
	resp, err := c.ListIncomingTransfers(context.Background(), &sinergiv1.ListIncomingTransfersRequest{Access: warden, PageSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	var out []*sinergiv1.IncomingTransfer
	for _, in := range resp.GetTransfers() {
		if in.GetRecord().GetId() == id {
			out = append(out, in)
		}
	}
	return out
}

// TestTransferHandOver: Lapas Cipinang transfers a high-risk inmate to
// Lapas Permisan. As soon as the transfer out is recorded, Permisan sees
// the incoming person, with identity, legal status, case and risk flags;
// no other facility does. Permisan receives the person with a transfer in
// under its own register number, without sending the record: it is made
// from Cipinang's, held. A transfer in that no transfer out backs makes no
// record.
func TestTransferHandOver(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	cipinang := custodyAs(t, env, "lapas-cipinang")
	permisan := custodyAs(t, env, "lapas-permisan")
	at := time.Now().Add(-30 * 24 * time.Hour).Truncate(time.Second)
	p := person(unique("TH."), "Hendra Saputra", date("1982-02-02"), sinergiv1.Sex_SEX_MALE, "317501")
	p.RiskFlags = []sinergiv1.RiskFlag{sinergiv1.RiskFlag_RISK_FLAG_HIGH_RISK, sinergiv1.RiskFlag_RISK_FLAG_NARCOTICS_NETWORK}
	rec := admitted(t, cipinang, p, at)

	// A transfer in before any transfer out: refused, and nothing is made.
	newNumber := unique("PMS.")
	_, err := event(ctx, permisan, "", transIn, at.Add(time.Hour), toward("lapas-cipinang", rec.GetRegisterNumber()))
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a transfer in naming no record: %v, want INVALID_ARGUMENT", err)
	}
	early, err := permisan.RecordCustodyEvent(ctx, &sinergiv1.RecordCustodyEventRequest{RegisterNumber: newNumber,
		Event: &sinergiv1.CustodyEvent{Type: transIn, EffectiveTime: timestamppb.New(at.Add(time.Hour)),
			CounterpartFacilityCode: "lapas-cipinang", CounterpartRegisterNumber: rec.GetRegisterNumber()}})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("a transfer in before the transfer out: %v, %v", early, err)
	}
	found, err := permisan.SearchCustodyRecords(ctx, &sinergiv1.SearchCustodyRecordsRequest{Access: warden, RegisterNumber: newNumber})
	if err != nil || len(found.GetRecords()) != 0 {
		t.Fatalf("a refused transfer in made a record: %v, %v", found, err)
	}
	if len(incoming(t, permisan, rec.GetId())) != 0 {
		t.Fatal("incoming before the transfer out")
	}

	out, err := event(ctx, cipinang, rec.GetId(), transOut, at.Add(2*time.Hour), toward("lapas-permisan", ""))
	if err != nil {
		t.Fatal(err)
	}
	in := incoming(t, permisan, rec.GetId())
	if len(in) != 1 || in[0].GetTransferOut().GetId() != out.GetEvent().GetId() || in[0].GetRecord().GetIdentity().GetNik() != p.GetIdentity().GetNik() ||
		!proto.Equal(in[0].GetRecord().GetLegalStatus(), p.GetLegalStatus()) || !slices.Equal(in[0].GetRecord().GetRiskFlags(), p.GetRiskFlags()) ||
		!slices.Equal(in[0].GetRecord().GetOffenceArticles(), p.GetOffenceArticles()) {
		t.Fatalf("Permisan's incoming: %v", in)
	}
	if len(incoming(t, custodyAs(t, env, "lapas-metro"), rec.GetId())) != 0 {
		t.Fatal("another facility sees the incoming person")
	}

	got, err := permisan.RecordCustodyEvent(ctx, &sinergiv1.RecordCustodyEventRequest{RegisterNumber: newNumber,
		Event: &sinergiv1.CustodyEvent{Type: transIn, EffectiveTime: timestamppb.New(at.Add(26 * time.Hour)),
			CounterpartFacilityCode: "lapas-cipinang", CounterpartRegisterNumber: rec.GetRegisterNumber()}})
	if err != nil {
		t.Fatal(err)
	}
	r := got.GetRecord()
	if r.GetFacilityCode() != "lapas-permisan" || r.GetRegisterNumber() != newNumber || r.GetId() == rec.GetId() ||
		r.GetStatus() != heldSt || r.GetIdentity().GetFullName() != "Hendra Saputra" || r.GetIdentity().GetNik() != p.GetIdentity().GetNik() ||
		!proto.Equal(r.GetLegalStatus(), p.GetLegalStatus()) || !slices.Equal(r.GetRiskFlags(), p.GetRiskFlags()) ||
		!r.GetHeldSince().AsTime().Equal(at.Add(26*time.Hour)) {
		t.Fatalf("received: %v", r)
	}
	if len(incoming(t, permisan, rec.GetId())) != 0 {
		t.Fatal("still incoming once received")
	}
	// The origin's record is closed by the receipt: a second receipt is refused.
	if _, err := permisan.RecordCustodyEvent(ctx, &sinergiv1.RecordCustodyEventRequest{RegisterNumber: unique("PMS."),
		Event: &sinergiv1.CustodyEvent{Type: transIn, EffectiveTime: timestamppb.New(at.Add(27 * time.Hour)),
			CounterpartFacilityCode: "lapas-cipinang", CounterpartRegisterNumber: rec.GetRegisterNumber()}}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("a second receipt: %v", err)
	}
}

// nextOf reads w until an event of one of records.
func (w *watcher) nextOf(records ...string) *sinergiv1.WatchCustodyEventsResponse {
	w.t.Helper()
	for {
		if m := w.next(1)[0]; slices.Contains(records, m.GetEvent().GetRecordId()) {
			return m
		}
	}
}

// TestTransferToldAheadAndFollowed: Lapas Metro transfers a person Polres
// Metro watches by record to Lapas Cipinang. Polres Metro Jakarta Timur,
// whose jurisdiction holds Cipinang, is told of the transfer out before the
// person arrives (INCOMING_TRANSFER), with who it is; Polres Metro, of its
// own jurisdiction and its watch. Once Cipinang has received the person
// under a record of its own, the watch follows: Polres Metro is told of
// the transfer in and of the release at Cipinang.
func TestTransferToldAheadAndFollowed(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	metro := custodyAs(t, env, "lapas-metro")
	cipinang := custodyAs(t, env, "lapas-cipinang")
	lampung := custodyAs(t, env, "polres-metro")
	at := time.Now().Add(-10 * 24 * time.Hour).Truncate(time.Second)
	p := person(unique("TF."), "Agus Salim", date("1977-07-07"), sinergiv1.Sex_SEX_MALE, "187201")
	rec := admitted(t, metro, p, at)
	if _, err := lampung.AddWatch(ctx, &sinergiv1.AddWatchRequest{Access: investigator, RecordId: rec.GetId(), Reason: "saksi perkara LP/B/77",
		ExpireTime: timestamppb.New(time.Now().Add(24 * time.Hour))}); err != nil {
		t.Fatal(err)
	}
	origin := watch(t, ctx, lampung, analyst, "")
	destination := watch(t, ctx, custodyAs(t, env, "polres-metro-jakarta-timur"), analyst, "")

	out, err := event(ctx, metro, rec.GetId(), transOut, at.Add(time.Hour), toward("lapas-cipinang", ""))
	if err != nil {
		t.Fatal(err)
	}
	ahead := destination.nextOf(rec.GetId())
	if ahead.GetEvent().GetId() != out.GetEvent().GetId() || ahead.GetReason() != sinergiv1.DeliveryReason_DELIVERY_REASON_INCOMING_TRANSFER ||
		ahead.GetSubject().GetNik() != p.GetIdentity().GetNik() {
		t.Fatalf("the destination's police were told %v, want the transfer out ahead, with who", ahead)
	}
	// The admission committed before the origin's watch opened, but is put
	// in the delivery order by the sequencer, which may come after the
	// watch's start: then the watch is told of it first.
	m := origin.nextOf(rec.GetId())
	if m.GetEvent().GetType() == sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_ADMISSION && m.GetEvent().GetId() != out.GetEvent().GetId() {
		m = origin.nextOf(rec.GetId())
	}
	if m.GetEvent().GetId() != out.GetEvent().GetId() {
		t.Fatalf("the origin's police were told %v", m)
	}

	received, err := cipinang.RecordCustodyEvent(ctx, &sinergiv1.RecordCustodyEventRequest{RegisterNumber: unique("CPN."),
		Event: &sinergiv1.CustodyEvent{Type: transIn, EffectiveTime: timestamppb.New(at.Add(5 * time.Hour)),
			CounterpartFacilityCode: "lapas-metro", CounterpartRegisterNumber: rec.GetRegisterNumber()}})
	if err != nil {
		t.Fatal(err)
	}
	moved := received.GetRecord().GetId()
	if m := origin.nextOf(rec.GetId(), moved); m.GetEvent().GetId() != received.GetEvent().GetId() ||
		m.GetReason() != sinergiv1.DeliveryReason_DELIVERY_REASON_WATCH {
		t.Fatalf("the watch was told %v, want the transfer in at Cipinang", m)
	}
	freed, err := event(ctx, cipinang, moved, release, at.Add(6*time.Hour), withReason(sinergiv1.ReleaseReason_RELEASE_REASON_PAROLE, ""))
	if err != nil {
		t.Fatal(err)
	}
	if m := origin.nextOf(rec.GetId(), moved); m.GetEvent().GetId() != freed.GetEvent().GetId() || m.GetReason() != sinergiv1.DeliveryReason_DELIVERY_REASON_WATCH {
		t.Fatalf("the watch was told %v, want the release at Cipinang", m)
	}
}

// TestTransferEscortsTold: a transfer out names its escort (and units on
// its route): each is told of it, with who, wherever it is; a code that is
// not a police unit is refused naming it.
func TestTransferEscortsTold(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	permisan := custodyAs(t, env, "lapas-permisan")
	at := time.Now().Add(-5 * 24 * time.Hour).Truncate(time.Second)
	p := person(unique("ES."), "Rudi Hartono", date("1979-09-09"), sinergiv1.Sex_SEX_MALE, "330101")
	rec := admitted(t, permisan, p, at)
	escort := watch(t, ctx, custodyAs(t, env, "polda-kalimantan-timur"), analyst, "")
	_, err := event(ctx, permisan, rec.GetId(), transOut, at.Add(time.Hour), toward("lapas-cipinang", ""),
		func(e *sinergiv1.CustodyEvent) { e.EscortCodes = []string{"lapas-metro"} })
	if f := validate.FieldsOf(err); !slices.Equal(f, []string{"event.escort_codes[0]"}) {
		t.Fatalf("a facility as escort: %v", err)
	}
	out, err := event(ctx, permisan, rec.GetId(), transOut, at.Add(time.Hour), toward("lapas-cipinang", ""),
		func(e *sinergiv1.CustodyEvent) { e.EscortCodes = []string{"polda-kalimantan-timur"} })
	if err != nil {
		t.Fatal(err)
	}
	m := escort.nextOf(rec.GetId())
	if m.GetEvent().GetId() != out.GetEvent().GetId() || m.GetReason() != sinergiv1.DeliveryReason_DELIVERY_REASON_ESCORT ||
		m.GetSubject().GetNik() != p.GetIdentity().GetNik() || !slices.Equal(m.GetEvent().GetEscortCodes(), []string{"polda-kalimantan-timur"}) {
		t.Fatalf("the escort was told %v", m)
	}
}
