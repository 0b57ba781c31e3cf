package screening_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/api"
	"github.com/sinergi-id/sinergi/internal/pki"
	"github.com/sinergi-id/sinergi/internal/servertest"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestWatchResumes: referrals screened through any server process reach
// the owning unit's stream; resuming from any cursor received gives every
// later referral once and none twice; a cursor is its unit's alone; and
// every delivery is in the audit trail, with the entry, the person and the
// inmate visited as subjects.
func TestWatchResumes(t *testing.T) {
	env := servertest.Start(t, pgtestFresh(t), servertest.Options{})
	other := env.Another(t)
	ctx := context.Background()
	polres := screeningAs(t, env, "polres-metro")
	// The facility screens through the second process.
	metro := sinergiv1.NewScreeningServiceClient(env.ConnAsTo(t, other.Addr(), "lapas-metro"))
	in := inmate(t, env, "lapas-metro", "187201")

	var people []*sinergiv1.ScreenedPerson
	entries := map[string]int{}
	for i := range 4 {
		p := person("Ridwan Lubis", birthday(), "187201")
		people = append(people, p)
		entries[list(t, polres, p, sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_ADMIT_WITH_SEARCH, time.Now().AddDate(0, 1, 0)).GetId()] = i
	}
	wctx, rid := withRequestID(ctx)
	live := watch(t, wctx, polres, "")
	start := live.cursor
	got := func(w *referrals, n int) []int {
		var out []int
		for range n {
			out = append(out, entries[w.next().GetEntryId()])
		}
		return out
	}
	screen(t, ctx, metro, people[0], in)
	screen(t, ctx, metro, people[1], in)
	if g := got(live, 2); !slices.Equal(g, []int{0, 1}) {
		t.Fatalf("live: %v", g)
	}
	afterFirst := ""
	{
		r := watch(t, ctx, polres, start)
		r.next()
		afterFirst = r.cursor
		r.cancel()
	}
	live.cancel()
	screen(t, ctx, metro, people[2], in)
	screen(t, ctx, metro, people[3], in)
	if g := got(watch(t, ctx, polres, afterFirst), 3); !slices.Equal(g, []int{1, 2, 3}) {
		t.Fatalf("resumed after the first: %v", g)
	}
	if g := got(watch(t, ctx, polres, start), 4); !slices.Equal(g, []int{0, 1, 2, 3}) {
		t.Fatalf("resumed from the start: %v", g)
	}

	// Another unit cannot use the cursor, nor forge one.
	for _, cur := range []string{start, start[:len(start)-3] + "abc", "garbage"} {
		s, err := screeningAs(t, env, "polres-cilacap").WatchScreeningReferrals(ctx, &sinergiv1.WatchScreeningReferralsRequest{Access: analyst, Cursor: cur})
		if err == nil {
			_, err = s.Recv()
		}
		if codeOf(err) != codes.InvalidArgument {
			t.Errorf("cursor %q of another unit: %v", cur, err)
		}
	}

	// Each live delivery was audited before it was sent.
	waitFor(t, "the live deliveries' audit records", func() bool {
		n := 0
		for _, r := range auditOf(t, env, rid) {
			if r.Method == sinergiv1.ScreeningService_WatchScreeningReferrals_FullMethodName && slices.ContainsFunc(r.Subjects, func(s string) bool {
				return strings.HasPrefix(s, "screening-entry/")
			}) && slices.Contains(r.Agreements, mou) && r.Purpose == "INTELLIGENCE_ANALYSIS" {
				// A record of several deliveries names the inmate once for each.
				for _, s := range r.Subjects {
					if s == "custody/"+in {
						n++
					}
				}
			}
		}
		return n == 2
	})
}

// TestWatchEndsWithItsUnit: a unit suspended while watching is told
// nothing more: its stream ends when the next referral comes.
func TestWatchEndsWithItsUnit(t *testing.T) {
	env := servertest.Start(t, pgtestFresh(t), servertest.Options{})
	ctx := context.Background()
	polres := screeningAs(t, env, "polres-metro")
	metro := screeningAs(t, env, "lapas-metro")
	in := inmate(t, env, "lapas-metro", "187201")
	p := person("Taufik Saragih", birthday(), "187201")
	list(t, polres, p, sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_REFUSE_ENTRY, time.Now().AddDate(0, 1, 0))
	w := watch(t, ctx, polres, "")
	admin := sinergiv1.NewInstitutionServiceClient(env.ConnAs(t, "mabes-polri"))
	if _, err := admin.SetInstitutionStatus(ctx, &sinergiv1.SetInstitutionStatusRequest{Code: "polres-metro",
		Status: sinergiv1.InstitutionStatus_INSTITUTION_STATUS_SUSPENDED, Access: &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_ADMINISTRATION}}); err != nil {
		t.Fatal(err)
	}
	if err := env.Server.Directory.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	// A suspended unit's list no longer applies either.
	if sc := screen(t, ctx, metro, p, in); sc.GetResult() != sinergiv1.ScreeningResult_SCREENING_RESULT_CLEAR {
		t.Fatalf("the list of a suspended unit: %v", sc)
	}
	var n int
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM screening_referrals WHERE owner_code = 'polres-metro'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("referrals to a suspended unit: %d %v", n, err)
	}
	// A referral made before the suspension, delivered after: not delivered.
	if _, err := env.Owner.Pool.Exec(ctx, `INSERT INTO screening_referrals (id, screening_id, entry_id, owner_code, facility_code, role, match,
		instruction, full_name, birth_date, visit_time, screen_time)
		SELECT gen_random_uuid(), gen_random_uuid(), id, owner_code, 'lapas-metro', 'VISITOR', 'NIK', 'REFUSE_ENTRY', full_name, birth_date, now(), now()
		FROM screening_entries WHERE owner_code = 'polres-metro' AND nik = $1`, p.GetNik()); err != nil {
		t.Fatal(err)
	}
	_, err := w.stream.Recv()
	if codeOf(err) != codes.PermissionDenied {
		t.Fatalf("the stream of a suspended unit: %v", err)
	}
}

// dialSmallWindow connects as code with the smallest flow-control windows,
// so that a consumer that does not read fills them quickly.
func dialSmallWindow(t *testing.T, env *servertest.Env, code string) sinergiv1.ScreeningServiceClient {
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
	return sinergiv1.NewScreeningServiceClient(conn)
}

// TestWatchSlowConsumer: a watcher that stops reading is ended with
// RESOURCE_EXHAUSTED and its cursor rather than held in memory; resuming
// from the last message it received loses and repeats nothing.
func TestWatchSlowConsumer(t *testing.T) {
	env := servertest.Start(t, pgtestFresh(t), servertest.Options{})
	api.SetWatchTuning(api.WatchTuning{Batch: 16, Queue: 8, Stall: 300 * time.Millisecond})
	t.Cleanup(func() { api.SetWatchTuning(api.WatchTuning{}) })
	ctx := context.Background()
	polres := screeningAs(t, env, "polres-metro")
	metro := screeningAs(t, env, "lapas-metro")
	in := inmate(t, env, "lapas-metro", "187201")
	// One person on 60 of the unit's entries: each screening, 60 referrals.
	p := person("Hendra Daulay", birthday(), "187201")
	for range 60 {
		list(t, polres, p, sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_ADMIT_WITH_SEARCH, time.Now().AddDate(0, 1, 0))
	}
	wctx, rid := withRequestID(ctx)
	w := watch(t, wctx, dialSmallWindow(t, env, "polres-metro"), "")
	const screenings = 25
	for range screenings {
		screen(t, ctx, metro, p, in)
	}
	const n = 60 * screenings
	waitFor(t, "the slow watcher to be ended", func() bool {
		for _, a := range auditOf(t, env, rid) {
			if a.Status == "ResourceExhausted" {
				return true
			}
		}
		return false
	})
	var ids []string
	var endErr error
	for {
		m, err := w.stream.Recv()
		if err != nil {
			endErr = err
			break
		}
		ids = append(ids, m.GetReferral().GetId())
		w.cursor = m.GetCursor()
	}
	if codeOf(endErr) != codes.ResourceExhausted || len(ids) == 0 || len(ids) >= n {
		t.Fatalf("slow watcher got %d referrals then %v, want some, then RESOURCE_EXHAUSTED", len(ids), endErr)
	}
	var info *errdetails.ErrorInfo
	for _, d := range status.Convert(endErr).Details() {
		if e, ok := d.(*errdetails.ErrorInfo); ok {
			info = e
		}
	}
	if info == nil || info.GetMetadata()["cursor"] != w.cursor {
		t.Fatalf("the error names cursor %v, want the last one received %q", info, w.cursor)
	}
	api.SetWatchTuning(api.WatchTuning{})
	r := watch(t, ctx, polres, w.cursor)
	for len(ids) < n {
		ids = append(ids, r.next().GetId())
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("referral %s delivered twice", id)
		}
		seen[id] = true
	}
	var total int
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM screening_referrals WHERE owner_code = 'polres-metro'`).Scan(&total); err != nil || total != n {
		t.Fatalf("referrals %d %v", total, err)
	}
}

// TestWatchDeliversOnlyUnderAgreements: a referral is delivered only while
// an agreement in force for visitor screening joins its unit with its
// facility: one of a facility whose agreement ended since is passed over,
// and the stream goes on with those that are covered.
func TestWatchDeliversOnlyUnderAgreements(t *testing.T) {
	env := servertest.Start(t, pgtestFresh(t), servertest.Options{})
	ctx := context.Background()
	now := time.Now()
	polres := screeningAs(t, env, "polres-metro")
	permisan := screeningAs(t, env, "lapas-permisan")
	in := inmate(t, env, "lapas-permisan", "330101")
	p := person("Lukman Tanjung", birthday(), "330101")
	e := list(t, polres, p, sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_ADMIT_WITH_SEARCH, now.AddDate(0, 1, 0))

	// Visitor screening between Lapas Permisan and Polres Metro alone, and
	// no more MoU.
	ministry := sinergiv1.NewAgreementServiceClient(env.ConnAs(t, "kemenimipas"))
	if _, err := ministry.CreateAgreement(ctx, &sinergiv1.CreateAgreementRequest{Access: ministryAdmin, Agreement: &sinergiv1.Agreement{
		Id: "pks-test-screening-permisan-metro", Number: "PKS/TEST/SCREENING", Kind: sinergiv1.AgreementKind_AGREEMENT_KIND_PKS,
		Parties: []*sinergiv1.Party{{Party: &sinergiv1.Party_InstitutionCode{InstitutionCode: "lapas-permisan"}},
			{Party: &sinergiv1.Party_InstitutionCode{InstitutionCode: "polres-metro"}}},
		Scopes: []sinergiv1.Scope{sinergiv1.Scope_SCOPE_VISITOR_SCREENING}, EffectiveTime: timestamppb.New(now.Add(-time.Hour)),
	}}); err != nil {
		t.Fatal(err)
	}
	police := sinergiv1.NewAgreementServiceClient(env.ConnAs(t, "mabes-polri"))
	if _, err := police.ConfirmAgreement(ctx, &sinergiv1.ConfirmAgreementRequest{Access: &sinergiv1.AccessContext{OperatorId: "85051234",
		Purpose: sinergiv1.Purpose_PURPOSE_ADMINISTRATION}, Id: "pks-test-screening-permisan-metro"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ministry.RevokeAgreement(ctx, &sinergiv1.RevokeAgreementRequest{Access: ministryAdmin, Id: mou}); err != nil {
		t.Fatal(err)
	}
	if err := env.Server.Directory.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	w := watch(t, ctx, polres, "")
	// A referral of Lapas Metro's, made while the MoU held, committed now.
	if _, err := env.Owner.Pool.Exec(ctx, `INSERT INTO screening_referrals (id, screening_id, entry_id, owner_code, facility_code, role, match,
		instruction, full_name, birth_date, visit_time, screen_time)
		VALUES (gen_random_uuid(), gen_random_uuid(), $1, 'polres-metro', 'lapas-metro', 'VISITOR', 'NIK', 'ADMIT_WITH_SEARCH', 'x', '1990-01-01', now(), now())`,
		e.GetId()); err != nil {
		t.Fatal(err)
	}
	sc := screen(t, ctx, permisan, p, in)
	if sc.GetResult() != sinergiv1.ScreeningResult_SCREENING_RESULT_REFER {
		t.Fatalf("under the PKS: %v", sc)
	}
	if got := w.next(); got.GetFacilityCode() != "lapas-permisan" || got.GetScreeningId() != sc.GetId() {
		t.Fatalf("the stream delivered %v, want Lapas Permisan's referral alone", got)
	}
	lr, err := polres.ListScreeningReferrals(ctx, &sinergiv1.ListScreeningReferralsRequest{Access: analyst})
	if err != nil || len(lr.GetReferrals()) != 1 || lr.GetReferrals()[0].GetFacilityCode() != "lapas-permisan" {
		t.Fatalf("the listing: %v %v", lr, err)
	}
}
