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
