package screening_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/screening"
	"github.com/sinergi-id/sinergi/internal/server"
	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestReferSaysNothingOfWhy: two REFERs of entries that differ in every
// respect but their instruction (category, reason, owner, expiry, how many
// entries name the person) answer the facility identically but for the
// screening's id, token and times; and the facility's audit records of a
// CLEAR and of a REFER carry the same kinds of subject and the same
// agreements.
func TestReferSaysNothingOfWhy(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	metro := screeningAs(t, env, "lapas-metro")
	in := inmate(t, env, "lapas-metro", "187201")
	a, b := person("Rahmat Effendi", birthday(), "187201"), person("Sandi Utomo", birthday(), "187201")

	ca, err := screeningAs(t, env, "polres-metro").CreateScreeningEntry(ctx, &sinergiv1.CreateScreeningEntryRequest{Access: investigator,
		Category: sinergiv1.ScreeningCategory_SCREENING_CATEGORY_WANTED, Person: a, Reason: "DPO pembunuhan berencana",
		Instruction: sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_ADMIT_WITH_SEARCH, ExpireTime: timestamppb.New(time.Now().AddDate(1, 0, 0))})
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"polda-lampung", "mabes-polri"} {
		if _, err := screeningAs(t, env, code).CreateScreeningEntry(ctx, &sinergiv1.CreateScreeningEntryRequest{Access: analyst,
			Category: sinergiv1.ScreeningCategory_SCREENING_CATEGORY_NARCOTICS_COURIER, Person: b, Reason: "kurir " + code,
			Instruction: sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_ADMIT_WITH_SEARCH, ExpireTime: timestamppb.New(time.Now().AddDate(0, 0, 3))}); err != nil {
			t.Fatal(err)
		}
	}
	_ = ca
	actx, arid := withRequestID(ctx)
	sa := screen(t, actx, metro, a, in)
	bctx, brid := withRequestID(ctx)
	sb := screen(t, bctx, metro, b, in)
	strip := func(s *sinergiv1.Screening) *sinergiv1.Screening {
		return &sinergiv1.Screening{FacilityCode: s.GetFacilityCode(), Role: s.GetRole(), Result: s.GetResult(), Instruction: s.GetInstruction(),
			Match: s.GetMatch(), CallInstitutionCodes: s.GetCallInstitutionCodes()}
	}
	if diff := cmp.Diff(strip(sa), strip(sb), protocmp.Transform()); diff != "" || sa.GetResult() != sinergiv1.ScreeningResult_SCREENING_RESULT_REFER {
		t.Fatalf("two REFERs differ (-one entry +two entries of two units):\n%s", diff)
	}
	cctx, crid := withRequestID(ctx)
	sc := screen(t, cctx, metro, person("Fikri Maulana", birthday(), "187201"), in)
	if sc.GetResult() != sinergiv1.ScreeningResult_SCREENING_RESULT_CLEAR {
		t.Fatal(sc)
	}
	shape := func(rid string) string {
		t.Helper()
		for _, r := range auditOf(t, env, rid) {
			if r.Method != sinergiv1.ScreeningService_ScreenVisitor_FullMethodName {
				continue
			}
			var kinds []string
			for _, s := range r.Subjects {
				k, _, _ := strings.Cut(s, "/")
				kinds = append(kinds, k)
			}
			slices.Sort(kinds)
			return fmt.Sprintf("%s %s %s %s %v %v", r.Caller, r.Decision, r.Reason, r.Status, kinds, r.Agreements)
		}
		t.Fatalf("no record of the call %s", rid)
		return ""
	}
	if sa, sb, sc := shape(arid), shape(brid), shape(crid); sa != sc || sb != sc {
		t.Fatalf("the facility's records differ:\n REFER %s\n REFER %s\n CLEAR %s", sa, sb, sc)
	}
	// The owners' records: one per owning unit, each its own.
	var owners []string
	for _, r := range auditOf(t, env, brid) {
		if r.Method == screening.ReferralMethod {
			owners = append(owners, r.Caller)
		}
	}
	slices.Sort(owners)
	if !slices.Equal(owners, []string{"mabes-polri", "polda-lampung"}) {
		t.Fatalf("referral records of %v", owners)
	}
}

// TestScreeningRate: a facility screens at most its limit; past it the
// call is RESOURCE_EXHAUSTED, looks nothing up and is audited as refused;
// another facility is not held back.
func TestScreeningRate(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{Configure: func(c *server.Config) {
		c.ScreeningLimit = screening.Limit{PerMinute: 1, Burst: 3}
	}})
	ctx := context.Background()
	metro := screeningAs(t, env, "lapas-metro")
	in := inmate(t, env, "lapas-metro", "187201")
	for range 3 {
		screen(t, ctx, metro, person("Ilham Siregar", birthday(), "187201"), in)
	}
	cctx, rid := withRequestID(ctx)
	_, err := metro.ScreenVisitor(cctx, &sinergiv1.ScreenVisitorRequest{Access: warden, Visitor: person("Ilham Siregar", birthday(), "187201"),
		Relationship: sinergiv1.VisitorRelationship_VISITOR_RELATIONSHIP_FRIEND, InmateRecordId: in})
	if codeOf(err) != codes.ResourceExhausted {
		t.Fatalf("past the limit: %v", err)
	}
	recs := auditOf(t, env, rid)
	if len(recs) != 1 || recs[0].Decision != "REFUSED" || recs[0].Status != "ResourceExhausted" ||
		slices.ContainsFunc(recs[0].Subjects, func(s string) bool { return strings.HasPrefix(s, "screening/") }) {
		t.Fatalf("the refusal's record %+v", recs)
	}
	pin := inmate(t, env, "lapas-permisan", "330101")
	screen(t, ctx, screeningAs(t, env, "lapas-permisan"), person("Ilham Siregar", birthday(), "330101"), pin)
}

// TestScreeningValidation: bad requests name their field, and no NIK comes
// back in an error.
func TestScreeningValidation(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	metro := screeningAs(t, env, "lapas-metro")
	in := inmate(t, env, "lapas-metro", "187201")
	released := inmate(t, env, "lapas-metro", "187201")
	if _, err := sinergiv1.NewCustodyServiceClient(env.ConnAs(t, "lapas-metro")).RecordCustodyEvent(ctx, &sinergiv1.RecordCustodyEventRequest{RecordId: released,
		Event: &sinergiv1.CustodyEvent{Type: sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_RELEASE, ReleaseReason: sinergiv1.ReleaseReason_RELEASE_REASON_END_OF_SENTENCE,
			EffectiveTime: timestamppb.Now()}}); err != nil {
		t.Fatal(err)
	}
	good := func() *sinergiv1.ScreenVisitorRequest {
		return &sinergiv1.ScreenVisitorRequest{Access: warden, Visitor: person("Yusuf Harahap", "1991-02-03", "187201"),
			Relationship: sinergiv1.VisitorRelationship_VISITOR_RELATIONSHIP_PARENT, InmateRecordId: in}
	}
	for name, tc := range map[string]struct {
		mod   func(*sinergiv1.ScreenVisitorRequest)
		field string
	}{
		"no visitor":                {func(r *sinergiv1.ScreenVisitorRequest) { r.Visitor = nil }, "visitor"},
		"no name":                   {func(r *sinergiv1.ScreenVisitorRequest) { r.Visitor.FullName = "" }, "visitor.full_name"},
		"no birth date":             {func(r *sinergiv1.ScreenVisitorRequest) { r.Visitor.BirthDate = "" }, "visitor.birth_date"},
		"a NIK of another day":      {func(r *sinergiv1.ScreenVisitorRequest) { r.Visitor.BirthDate = "1991-02-04" }, "visitor.nik"},
		"letters in the NIK":        {func(r *sinergiv1.ScreenVisitorRequest) { r.Visitor.Nik = "18720103029100AB" }, "visitor.nik"},
		"aliases":                   {func(r *sinergiv1.ScreenVisitorRequest) { r.Visitor.Aliases = []string{"Ucok"} }, "visitor.aliases"},
		"a NUL":                     {func(r *sinergiv1.ScreenVisitorRequest) { r.Visitor.FullName = "Yusuf\x00" }, "visitor.full_name"},
		"a megabyte name":           {func(r *sinergiv1.ScreenVisitorRequest) { r.Visitor.FullName = strings.Repeat("a", 1<<20) }, "visitor.full_name"},
		"no relationship":           {func(r *sinergiv1.ScreenVisitorRequest) { r.Relationship = 0 }, "relationship"},
		"no inmate":                 {func(r *sinergiv1.ScreenVisitorRequest) { r.InmateRecordId = "" }, "inmate_record_id"},
		"not an id":                 {func(r *sinergiv1.ScreenVisitorRequest) { r.InmateRecordId = "'; DROP TABLE visits; --" }, "inmate_record_id"},
		"a stranger":                {func(r *sinergiv1.ScreenVisitorRequest) { r.InmateRecordId = "01900000-0000-7000-8000-000000000000" }, "inmate_record_id"},
		"another facility's inmate": {func(r *sinergiv1.ScreenVisitorRequest) { r.InmateRecordId = inmate(t, env, "lapas-permisan", "330101") }, "inmate_record_id"},
		"a released inmate":         {func(r *sinergiv1.ScreenVisitorRequest) { r.InmateRecordId = released }, "inmate_record_id"},
		"a visit last week":         {func(r *sinergiv1.ScreenVisitorRequest) { r.VisitTime = timestamppb.New(time.Now().AddDate(0, 0, -7)) }, "visit_time"},
		"a visit next week":         {func(r *sinergiv1.ScreenVisitorRequest) { r.VisitTime = timestamppb.New(time.Now().AddDate(0, 0, 7)) }, "visit_time"},
		"a facility's purpose it may not give": {func(r *sinergiv1.ScreenVisitorRequest) {
			r.Access = &sinergiv1.AccessContext{OperatorId: warden.GetOperatorId(), Purpose: sinergiv1.Purpose_PURPOSE_TRANSFER_ESCORT}
		}, "access.purpose"},
	} {
		t.Run(name, func(t *testing.T) {
			r := good()
			tc.mod(r)
			_, err := metro.ScreenVisitor(ctx, r)
			if codeOf(err) != codes.InvalidArgument || !slices.Contains(validate.FieldsOf(err), tc.field) {
				t.Fatalf("%v, want INVALID_ARGUMENT on %s", err, tc.field)
			}
			if n := r.GetVisitor().GetNik(); n != "" && strings.Contains(err.Error(), n) {
				t.Fatalf("the error repeats the NIK: %v", err)
			}
		})
	}
	if _, err := screeningAs(t, env, "polres-metro").ScreenVisitor(ctx, good()); codeOf(err) != codes.PermissionDenied {
		t.Fatalf("a police unit screens: %v", err)
	}
	if _, err := metro.ScreenVisitor(ctx, good()); err != nil {
		t.Fatalf("the good request: %v", err)
	}
}

// TestTablesHoldTheApplication: the server's database role cannot rewrite
// referrals, delete entries or visits, or change what an entry, a visit
// or a designation says; the one change each allows (removal, the end, the
// lift) happens once.
func TestTablesHoldTheApplication(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	polres := screeningAs(t, env, "polres-metro")
	metro := screeningAs(t, env, "lapas-metro")
	in := inmate(t, env, "lapas-metro", "187201")
	p := person("Slamet Nasution", birthday(), "187201")
	e := list(t, polres, p, sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_ADMIT_WITH_SEARCH, time.Now().AddDate(0, 1, 0))
	sc := screen(t, ctx, metro, p, in)
	v, err := metro.RegisterVisit(ctx, visitReq(p, in, sc.GetToken(), sinergiv1.VisitOutcome_VISIT_OUTCOME_ADMITTED_AFTER_SEARCH))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := polres.RemoveScreeningEntry(ctx, &sinergiv1.RemoveScreeningEntryRequest{Access: analyst, Id: e.GetId()}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, env.DB.App)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`UPDATE screening_referrals SET instruction = 'ADMIT_WITH_SEARCH'`,
		`DELETE FROM screening_referrals`,
		`TRUNCATE screening_referrals`,
		`DELETE FROM screening_entries WHERE id = '` + e.GetId() + `'`,
		`UPDATE screening_entries SET reason = 'changed' WHERE id = '` + e.GetId() + `'`,
		`UPDATE screening_entries SET remove_time = NULL WHERE id = '` + e.GetId() + `'`,
		`UPDATE screening_entries SET expire_time = now() + interval '10 years' WHERE id = '` + e.GetId() + `'`,
		`TRUNCATE screening_entries CASCADE`,
		`DELETE FROM visits`,
		`UPDATE visits SET outcome = 'REFUSED' WHERE id = '` + v.GetVisit().GetId() + `'`,
		`UPDATE visits SET screening_id = NULL WHERE id = '` + v.GetVisit().GetId() + `'`,
		`DELETE FROM facility_designations`,
		`UPDATE facility_designations SET reason = 'x'`,
		`SELECT sinergi_screening_referral_sequence()`,
	} {
		_, err := conn.Exec(ctx, q)
		var pe *pgconn.PgError
		if !errorsAs(err, &pe) || (pe.Code != "42501" && pe.Code != "0A000" && !strings.Contains(pe.Message, "refused")) {
			t.Errorf("%s\n  was not refused: %v", q, err)
		}
	}
	var n int
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM screening_referrals WHERE entry_id = $1 AND instruction = 'ADMIT_WITH_SEARCH'`, e.GetId()).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the referral: %d %v", n, err)
	}
}

// TestSubjectAccessKeepsTheSidesApart: each side's oversight, asking who
// processed a screening or a screened person, reads its own side's
// records only: the ministry the facility's call, not the owning unit's
// referral, which would tell it whose list the visitor is on; Mabes the
// referral and its delivery, not the facility's call. Who read a visit is
// answered as for a custody record: the police unit's consultation too.
func TestSubjectAccessKeepsTheSidesApart(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	polres := screeningAs(t, env, "polres-metro")
	metro := screeningAs(t, env, "lapas-metro")
	in := inmate(t, env, "lapas-metro", "187201")
	p := person("Arif Manurung", birthday(), "187201")
	list(t, polres, p, sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_ADMIT_WITH_SEARCH, time.Now().AddDate(0, 1, 0))
	sc := screen(t, ctx, metro, p, in)
	v, err := metro.RegisterVisit(ctx, visitReq(p, in, sc.GetToken(), sinergiv1.VisitOutcome_VISIT_OUTCOME_ADMITTED_AFTER_SEARCH))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := polres.ListVisits(ctx, &sinergiv1.ListVisitsRequest{Access: investigator, InmateRecordId: in}); err != nil {
		t.Fatal(err)
	}
	env.WaitIntegrated(t)
	ministry := sinergiv1.NewAuditServiceClient(env.ConnAs(t, "kemenimipas"))
	mabes := sinergiv1.NewAuditServiceClient(env.ConnAs(t, "mabes-polri"))
	ov := func(operator string) *sinergiv1.AccessContext {
		return &sinergiv1.AccessContext{OperatorId: operator, Purpose: sinergiv1.Purpose_PURPOSE_OVERSIGHT}
	}
	methods := func(c sinergiv1.AuditServiceClient, acc *sinergiv1.AccessContext, subject string) []string {
		t.Helper()
		r, err := c.ListSubjectAccess(ctx, &sinergiv1.ListSubjectAccessRequest{Access: acc, Subject: subject})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range r.GetAccesses() {
			out = append(out, a.GetCallerCode()+" "+a.GetMethod())
		}
		slices.Sort(out)
		return out
	}
	subject := "screening/" + sc.GetId()
	if got := methods(ministry, ov("198503152010011001"), subject); !slices.Equal(got, []string{
		"lapas-metro " + sinergiv1.ScreeningService_RegisterVisit_FullMethodName, "lapas-metro " + sinergiv1.ScreeningService_ScreenVisitor_FullMethodName}) {
		t.Errorf("the ministry reads of the screening: %v", got)
	}
	if got := methods(mabes, ov("85051234"), subject); !slices.Equal(got, []string{"polres-metro " + screening.ReferralMethod}) {
		t.Errorf("Mabes reads of the screening: %v", got)
	}
	if got := methods(ministry, ov("198503152010011001"), "visit/"+v.GetVisit().GetId()); !slices.Contains(got, "polres-metro "+sinergiv1.ScreeningService_ListVisits_FullMethodName) {
		t.Errorf("the ministry does not see who consulted the visit: %v", got)
	}
}
