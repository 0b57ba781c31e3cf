package custody_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/servertest"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// upload sends a roster: a header when header is not nil, then the records.
func upload(ctx context.Context, t *testing.T, c sinergiv1.CustodyServiceClient, header *sinergiv1.RosterHeader, recs []*sinergiv1.CustodyRecord) (*sinergiv1.SyncRosterResponse, error) {
	t.Helper()
	st, err := c.SyncRoster(ctx)
	if err != nil {
		return nil, err
	}
	if header != nil {
		if err := st.Send(&sinergiv1.SyncRosterRequest{Item: &sinergiv1.SyncRosterRequest_Header{Header: header}}); err != nil {
			return st.CloseAndRecv()
		}
	}
	for _, r := range recs {
		if err := st.Send(&sinergiv1.SyncRosterRequest{Item: &sinergiv1.SyncRosterRequest_Record{Record: r}}); err != nil {
			return st.CloseAndRecv()
		}
	}
	return st.CloseAndRecv()
}

func countEvents(t *testing.T, env *servertest.Env, facility string) int {
	t.Helper()
	var n int
	if err := env.Owner.Pool.QueryRow(context.Background(), `SELECT count(*) FROM custody_events WHERE facility_code = $1`, facility).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSyncRoster uploads rosters of one facility: a first one with bad
// records among good ones, the same again (nothing changes), and a full one
// with people changed, added, registered, released and missing.
func TestSyncRoster(t *testing.T) {
	// Its own database: a full roster reports every held record of the facility.
	env := servertest.Start(t, freshDB(t), servertest.Options{})
	ctx := context.Background()
	c := custodyAs(t, env, "lapas-tenggarong")
	rosterTime := time.Now().Add(-time.Hour).Truncate(time.Second)
	admittedAt := time.Now().Add(-400 * 24 * time.Hour).Truncate(time.Second)

	mk := func(rn, name, birth string, sex sinergiv1.Sex) *sinergiv1.CustodyRecord {
		return person(rn, name, date(birth), sex, "640201")
	}
	good := []*sinergiv1.CustodyRecord{
		mk("BI.0001", "Lukman Hasibuan", "1980-01-10", sinergiv1.Sex_SEX_MALE),
		mk("BI.0002", "Taufik Saragih", "1975-06-01", sinergiv1.Sex_SEX_MALE),
		mk("BI.0003", "Yusuf Daulay", "1992-11-23", sinergiv1.Sex_SEX_MALE),
		mk("BI.0004", "Ridwan Effendi", "1969-02-28", sinergiv1.Sex_SEX_MALE),
	}
	good[0].HeldSince = timestamppb.New(admittedAt)
	badNIK := mk("BI.0005", "Sandi Manurung", "1988-08-08", sinergiv1.Sex_SEX_MALE)
	badNIK.Identity.Nik = badNIK.Identity.Nik[:6] + "32" + badNIK.Identity.Nik[8:] // day 32
	twice := mk("BI.0002", "Taufik Saragih (again)", "1975-06-01", sinergiv1.Sex_SEX_MALE)
	foreign := mk("BI.0006", "Dani Sitompul", "1990-04-04", sinergiv1.Sex_SEX_MALE)
	foreign.FacilityCode = "lapas-metro"
	noName := mk("BI.0007", "", "1990-04-04", sinergiv1.Sex_SEX_MALE)
	first := []*sinergiv1.CustodyRecord{good[0], badNIK, good[1], twice, good[2], foreign, noName, good[3]}

	rctx, rid := withRequestID(ctx)
	resp, err := upload(rctx, t, c, &sinergiv1.RosterHeader{RosterTime: timestamppb.New(rosterTime)}, first)
	if err != nil {
		t.Fatal(err)
	}
	want := &sinergiv1.SyncRosterResponse{Received: 8, Inserted: 4, Rejected: 4, Rejections: []*sinergiv1.RosterRejection{
		{Position: 1, RegisterNumber: "BI.0005", Violations: []*sinergiv1.RosterViolation{{Field: "identity.nik", Description: "birth day must be 01-31, or 41-71 for women"}}},
		{Position: 3, RegisterNumber: "BI.0002", Violations: []*sinergiv1.RosterViolation{{Field: "register_number", Description: "repeats the register number of the record at position 2, which was applied"}}},
		{Position: 5, RegisterNumber: "BI.0006", Violations: []*sinergiv1.RosterViolation{{Field: "facility_code", Description: "a facility uploads only its own records"}}},
		{Position: 6, RegisterNumber: "BI.0007", Violations: []*sinergiv1.RosterViolation{{Field: "identity.full_name", Description: "required"}}},
	}}
	if diff := cmp.Diff(want, resp, protocmp.Transform()); diff != "" {
		t.Fatalf("first upload (-want +got):\n%s", diff)
	}
	byRN := func() map[string]*sinergiv1.CustodyRecord {
		out := map[string]*sinergiv1.CustodyRecord{}
		s, err := c.SearchCustodyRecords(ctx, &sinergiv1.SearchCustodyRecordsRequest{Access: warden, FacilityCode: "lapas-tenggarong", PageSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range s.GetRecords() {
			out[r.GetRegisterNumber()] = r
		}
		return out
	}
	stored := byRN()
	if len(stored) != 4 {
		t.Fatalf("stored %d records, want the 4 good ones", len(stored))
	}
	for _, g := range good {
		r := stored[g.GetRegisterNumber()]
		wantHeld := rosterTime
		if g.GetHeldSince() != nil {
			wantHeld = admittedAt
		}
		if r.GetStatus() != heldSt || !r.GetHeldSince().AsTime().Equal(wantHeld) || r.GetIdentity().GetFullName() != g.GetIdentity().GetFullName() {
			t.Errorf("%s: status %v since %v name %q", g.GetRegisterNumber(), r.GetStatus(), r.GetHeldSince().AsTime(), r.GetIdentity().GetFullName())
		}
	}
	if n := countEvents(t, env, "lapas-tenggarong"); n != 4 {
		t.Fatalf("%d events after the first upload, want 4 admissions", n)
	}
	a := auditOf(t, env, rid)
	if len(a) != 1 || a[0].Status != "OK" || len(a[0].Subjects) != 4 {
		t.Fatalf("audit of the upload: %+v", a)
	}

	t.Run("the same roster twice changes nothing", func(t *testing.T) {
		again, err := upload(ctx, t, c, &sinergiv1.RosterHeader{RosterTime: timestamppb.New(rosterTime)}, first)
		if err != nil {
			t.Fatal(err)
		}
		if again.GetInserted() != 0 || again.GetUpdated() != 0 || again.GetUnchanged() != 4 || again.GetRejected() != 4 {
			t.Fatalf("second upload: %v", again)
		}
		if diff := cmp.Diff(stored, byRN(), protocmp.Transform()); diff != "" {
			t.Fatalf("records changed (-before +after):\n%s", diff)
		}
		if n := countEvents(t, env, "lapas-tenggarong"); n != 4 {
			t.Fatalf("%d events, want still 4", n)
		}
	})

	t.Run("full roster: changed, new, registered, released, missing", func(t *testing.T) {
		// BI.0004 is released before the upload; BI.0008 is registered by upsert.
		if _, err := event(ctx, c, stored["BI.0004"].GetId(), release, time.Now().Add(-time.Minute), withReason(sinergiv1.ReleaseReason_RELEASE_REASON_END_OF_SENTENCE, "")); err != nil {
			t.Fatal(err)
		}
		registered := mk("BI.0008", "Jefri Nasution", "1999-09-09", sinergiv1.Sex_SEX_MALE)
		if _, err := c.UpsertCustodyRecord(ctx, &sinergiv1.UpsertCustodyRecordRequest{Record: registered}); err != nil {
			t.Fatal(err)
		}
		changed := proto.Clone(good[1]).(*sinergiv1.CustodyRecord)
		changed.RiskFlags = append(changed.RiskFlags, sinergiv1.RiskFlag_RISK_FLAG_ESCAPE_RISK)
		added := mk("BI.0009", "Fikri Lubis", "2001-01-01", sinergiv1.Sex_SEX_MALE)
		// BI.0001 and BI.0003 are missing; BI.0004 is listed though released.
		full, err := upload(ctx, t, c, &sinergiv1.RosterHeader{Full: true}, []*sinergiv1.CustodyRecord{changed, good[3], registered, added})
		if err != nil {
			t.Fatal(err)
		}
		want := &sinergiv1.SyncRosterResponse{Received: 4, Inserted: 1, Updated: 2, Unchanged: 1,
			Missing: []*sinergiv1.RosterDiscrepancy{
				{RecordId: stored["BI.0001"].GetId(), RegisterNumber: "BI.0001", Status: heldSt},
				{RecordId: stored["BI.0003"].GetId(), RegisterNumber: "BI.0003", Status: heldSt},
			}, MissingCount: 2,
			NotHeld:      []*sinergiv1.RosterDiscrepancy{{RecordId: stored["BI.0004"].GetId(), RegisterNumber: "BI.0004", Status: releasedSt}},
			NotHeldCount: 1,
			// Each missing person is an item to reconcile.
			ReconciliationItemsOpened: 2,
		}
		if diff := cmp.Diff(want, full, protocmp.Transform()); diff != "" {
			t.Fatalf("full upload (-want +got):\n%s", diff)
		}
		after := byRN()
		// Missing people are reported, never deleted nor moved.
		for _, rn := range []string{"BI.0001", "BI.0003"} {
			if after[rn].GetStatus() != heldSt {
				t.Errorf("%s: %v, want still held", rn, after[rn].GetStatus())
			}
		}
		if after["BI.0004"].GetStatus() != releasedSt || after["BI.0008"].GetStatus() != heldSt || after["BI.0009"].GetStatus() != heldSt ||
			len(after["BI.0002"].GetRiskFlags()) != 2 {
			t.Errorf("after the full upload: %v", after)
		}
		// Four admissions, a release, and the admissions of BI.0008 and BI.0009.
		if n := countEvents(t, env, "lapas-tenggarong"); n != 7 {
			t.Fatalf("%d events, want 7", n)
		}
	})

	t.Run("header only first", func(t *testing.T) {
		st, err := c.SyncRoster(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_ = st.Send(&sinergiv1.SyncRosterRequest{Item: &sinergiv1.SyncRosterRequest_Record{Record: good[0]}})
		_ = st.Send(&sinergiv1.SyncRosterRequest{Item: &sinergiv1.SyncRosterRequest_Header{Header: &sinergiv1.RosterHeader{Full: true}}})
		if _, err := st.CloseAndRecv(); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("late header: %v", err)
		}
	})

	t.Run("an empty full roster reports everyone and deletes no one", func(t *testing.T) {
		resp, err := upload(ctx, t, c, &sinergiv1.RosterHeader{Full: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetMissingCount() != 5 || len(resp.GetMissing()) != 5 || resp.GetReceived() != 0 {
			t.Fatalf("empty full roster: %v", resp)
		}
		if len(byRN()) != 6 {
			t.Fatal("records were deleted")
		}
	})
}

// TestSecondRosterRefusedAtOnce: while one upload of a facility's roster
// is open, a second one for the same facility is refused at once
// (ABORTED), before it sends anything, not after its whole upload; another
// facility's upload goes on; once the first ends, the second may start.
func TestSecondRosterRefusedAtOnce(t *testing.T) {
	env := servertest.Start(t, freshDB(t), servertest.Options{})
	ctx := context.Background()
	metro := custodyAs(t, env, "lapas-metro")
	first, err := metro.SyncRoster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rec := person(unique("RS-"), "Budi Santoso", date("1990-04-12"), sinergiv1.Sex_SEX_MALE, "187201")
	if err := first.Send(&sinergiv1.SyncRosterRequest{Item: &sinergiv1.SyncRosterRequest_Record{Record: rec}}); err != nil {
		t.Fatal(err)
	}
	// The first upload's stream is open on the server once its record is
	// acknowledged by flow control; give the server a moment to take the
	// facility (the second upload would otherwise race it to the lock).
	waitFor(t, "the first upload to hold the facility", func() bool {
		var n int
		_ = env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted
			AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended('sinergi roster upload lapas-metro', 0)`).Scan(&n)
		return n > 0
	})
	second, err := metro.SyncRoster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := second.CloseAndRecv(); status.Code(err) != codes.Aborted || !strings.Contains(err.Error(), "in progress") {
		t.Fatalf("a second upload while the first is open: %v, want ABORTED", err)
	}
	other := person(unique("RS-"), "Siti Aminah", date("1985-02-01"), sinergiv1.Sex_SEX_FEMALE, "330101")
	if _, err := upload(ctx, t, custodyAs(t, env, "lapas-permisan"), nil, []*sinergiv1.CustodyRecord{other}); err != nil {
		t.Fatalf("another facility's upload was held up: %v", err)
	}
	resp, err := first.CloseAndRecv()
	if err != nil || resp.GetInserted() != 1 {
		t.Fatalf("the first upload: %v %v", resp, err)
	}
	again, err := upload(ctx, t, metro, nil, []*sinergiv1.CustodyRecord{rec})
	if err != nil || again.GetUnchanged() != 1 {
		t.Fatalf("an upload after the first ended: %v %v", again, err)
	}
}
