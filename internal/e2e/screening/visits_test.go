package screening_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/sinergi-id/sinergi/internal/screening"
	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

func visitReq(p *sinergiv1.ScreenedPerson, inmate, token string, outcome sinergiv1.VisitOutcome) *sinergiv1.RegisterVisitRequest {
	return &sinergiv1.RegisterVisitRequest{Access: warden, Visitor: p, Relationship: sinergiv1.VisitorRelationship_VISITOR_RELATIONSHIP_SIBLING,
		InmateRecordId: inmate, ItemsDeposited: []string{"telepon genggam", "dompet"}, Outcome: outcome, ScreeningToken: token}
}

// TestHighRiskFacilityRefusesUnscreenedVisit: at Lapas Cipinang, which the
// demo designates prone to narcotics trafficking, a visit is registered
// only with the visitor's screening for that inmate, once, and its
// outcome follows the instruction; elsewhere a visit without one is
// registered, with the recommendation to screen.
func TestHighRiskFacilityRefusesUnscreenedVisit(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	cipinang := screeningAs(t, env, "lapas-cipinang")
	metro := screeningAs(t, env, "lapas-metro")
	polres := screeningAs(t, env, "polres-metro-jakarta-timur")
	in := inmate(t, env, "lapas-cipinang", "317501")
	other := inmate(t, env, "lapas-cipinang", "317501")
	visitor := person("Lestari Wibowo", birthday(), "317501")

	cctx, rid := withRequestID(ctx)
	_, err := cipinang.RegisterVisit(cctx, visitReq(visitor, in, "", sinergiv1.VisitOutcome_VISIT_OUTCOME_ADMITTED))
	if codeOf(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "prone to narcotics trafficking") {
		t.Fatalf("an unscreened visit at a high-risk facility: %v, want FAILED_PRECONDITION", err)
	}
	if recs := auditOf(t, env, rid); len(recs) != 1 || recs[0].Status != "FailedPrecondition" {
		t.Fatalf("the refusal's audit record: %+v", recs)
	}
	var n int
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM visits WHERE inmate_record_id = $1`, in).Scan(&n); err != nil || n != 0 {
		t.Fatalf("visits written: %d %v", n, err)
	}

	sc := screen(t, ctx, cipinang, visitor, in)
	if sc.GetResult() != sinergiv1.ScreeningResult_SCREENING_RESULT_CLEAR {
		t.Fatalf("screening %v", sc)
	}
	// The token is this visitor's, for this inmate, at this facility.
	for name, req := range map[string]*sinergiv1.RegisterVisitRequest{
		"another visitor":  visitReq(person("Lestari Wibowo", birthday(), "317501"), in, sc.GetToken(), sinergiv1.VisitOutcome_VISIT_OUTCOME_ADMITTED),
		"another inmate":   visitReq(visitor, other, sc.GetToken(), sinergiv1.VisitOutcome_VISIT_OUTCOME_ADMITTED),
		"a forged token":   visitReq(visitor, in, sc.GetToken()[:len(sc.GetToken())-2]+"AA", sinergiv1.VisitOutcome_VISIT_OUTCOME_ADMITTED),
		"another facility": visitReq(visitor, inmate(t, env, "lapas-metro", "187201"), sc.GetToken(), sinergiv1.VisitOutcome_VISIT_OUTCOME_ADMITTED),
	} {
		c := cipinang
		if name == "another facility" {
			c = metro
		}
		_, err := c.RegisterVisit(ctx, req)
		want := codes.FailedPrecondition
		if name == "a forged token" {
			want = codes.InvalidArgument
		}
		if codeOf(err) != want {
			t.Errorf("%s: %v, want %s", name, err, want)
		}
	}
	cctx, rid = withRequestID(ctx)
	r, err := cipinang.RegisterVisit(cctx, visitReq(visitor, in, sc.GetToken(), sinergiv1.VisitOutcome_VISIT_OUTCOME_ADMITTED))
	if err != nil {
		t.Fatalf("the screened visit: %v", err)
	}
	v := r.GetVisit()
	if v.GetScreeningId() != sc.GetId() || v.GetScreeningResult() != sinergiv1.ScreeningResult_SCREENING_RESULT_CLEAR || r.GetScreeningRecommended() ||
		v.GetFacilityCode() != "lapas-cipinang" || v.GetInmateRecordId() != in || v.GetVisitor().GetNik() != visitor.GetNik() ||
		!slices.Equal(v.GetItemsDeposited(), []string{"telepon genggam", "dompet"}) || v.GetTimeOut() != nil || v.GetOperatorId() != warden.GetOperatorId() {
		t.Fatalf("visit %v", r)
	}
	recs := auditOf(t, env, rid)
	if len(recs) != 1 || !slices.Contains(recs[0].Subjects, "visit/"+v.GetId()) || !slices.Contains(recs[0].Subjects, "custody/"+in) ||
		!slices.Contains(recs[0].Subjects, "screening/"+sc.GetId()) || !slices.ContainsFunc(recs[0].Subjects, func(s string) bool { return strings.HasPrefix(s, "person/") }) {
		t.Fatalf("the visit's audit record %+v", recs)
	}
	// One screening, one visit.
	if _, err := cipinang.RegisterVisit(ctx, visitReq(visitor, in, sc.GetToken(), sinergiv1.VisitOutcome_VISIT_OUTCOME_ADMITTED)); codeOf(err) != codes.AlreadyExists {
		t.Fatalf("the token again: %v", err)
	}
	// The visit ends once; a refused visit has no end.
	end, err := cipinang.EndVisit(ctx, &sinergiv1.EndVisitRequest{Access: warden, Id: v.GetId()})
	if err != nil || end.GetVisit().GetTimeOut() == nil {
		t.Fatalf("end: %v %v", end, err)
	}
	if again, err := cipinang.EndVisit(ctx, &sinergiv1.EndVisitRequest{Access: warden, Id: v.GetId()}); err != nil ||
		!again.GetVisit().GetTimeOut().AsTime().Equal(end.GetVisit().GetTimeOut().AsTime()) {
		t.Fatalf("end again: %v %v", again, err)
	}
	if _, err := metro.EndVisit(ctx, &sinergiv1.EndVisitRequest{Access: warden, Id: v.GetId()}); codeOf(err) != codes.NotFound {
		t.Fatalf("another facility ends the visit: %v", err)
	}

	// The demo DPO at the gate: REFER, refuse entry. Only a refusal is registered.
	dpo := &sinergiv1.ScreenedPerson{Nik: screening.DemoNIK("jaktim-dpo"), FullName: "Andika Pratama", BirthDate: "1988-03-12"}
	w := watch(t, ctx, polres, "")
	refused := screen(t, ctx, cipinang, dpo, in)
	if refused.GetResult() != sinergiv1.ScreeningResult_SCREENING_RESULT_REFER || refused.GetInstruction() != sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_REFUSE_ENTRY {
		t.Fatalf("the demo DPO: %v", refused)
	}
	if ref := w.next(); ref.GetEntryId() != screening.DemoEntryID("jaktim-dpo") || ref.GetFacilityCode() != "lapas-cipinang" || ref.GetInmateRecordId() != in {
		t.Fatalf("Polres Metro Jakarta Timur was told %v", ref)
	}
	for _, o := range []sinergiv1.VisitOutcome{sinergiv1.VisitOutcome_VISIT_OUTCOME_ADMITTED, sinergiv1.VisitOutcome_VISIT_OUTCOME_ADMITTED_AFTER_SEARCH} {
		if _, err := cipinang.RegisterVisit(ctx, visitReq(dpo, in, refused.GetToken(), o)); codeOf(err) != codes.FailedPrecondition {
			t.Fatalf("%s against REFUSE_ENTRY: %v", o, err)
		}
	}
	rv, err := cipinang.RegisterVisit(ctx, visitReq(dpo, in, refused.GetToken(), sinergiv1.VisitOutcome_VISIT_OUTCOME_REFUSED))
	if err != nil || rv.GetVisit().GetScreeningResult() != sinergiv1.ScreeningResult_SCREENING_RESULT_REFER ||
		rv.GetVisit().GetScreeningInstruction() != sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_REFUSE_ENTRY {
		t.Fatalf("the refusal: %v %v", rv, err)
	}
	if _, err := cipinang.EndVisit(ctx, &sinergiv1.EndVisitRequest{Access: warden, Id: rv.GetVisit().GetId()}); codeOf(err) != codes.FailedPrecondition {
		t.Fatalf("ending a refused visit: %v", err)
	}

	// Elsewhere, an unscreened visit is registered, and screening recommended.
	mi := inmate(t, env, "lapas-metro", "187201")
	mr, err := metro.RegisterVisit(ctx, visitReq(person("Putri Kusuma", birthday(), "187201"), mi, "", sinergiv1.VisitOutcome_VISIT_OUTCOME_ADMITTED))
	if err != nil || !mr.GetScreeningRecommended() || mr.GetVisit().GetScreeningId() != "" {
		t.Fatalf("an unscreened visit at Lapas Metro: %v %v", mr, err)
	}
	// A person the facility does not hold is not visited.
	if _, err := metro.RegisterVisit(ctx, visitReq(visitor, in, "", sinergiv1.VisitOutcome_VISIT_OUTCOME_ADMITTED)); codeOf(err) != codes.InvalidArgument ||
		!slices.Equal(validate.FieldsOf(err), []string{"inmate_record_id"}) {
		t.Fatalf("another facility's inmate: %v", err)
	}
}

// TestDesignation: the ministry designates and lifts; nobody else may;
// anyone lists them; officers are screened only where a designation is in
// force.
func TestDesignation(t *testing.T) {
	env := servertest.Start(t, pgtestFresh(t), servertest.Options{})
	ctx := context.Background()
	ministry := screeningAs(t, env, "kemenimipas")
	metro := screeningAs(t, env, "lapas-metro")
	officer := &sinergiv1.ScreenOfficerRequest{Access: warden, Officer: &sinergiv1.ScreenedPerson{FullName: "Agus Salim", BirthDate: "1985-03-15"},
		OfficerId: "198503152010011001"}

	if _, err := metro.ScreenOfficer(ctx, officer); codeOf(err) != codes.FailedPrecondition {
		t.Fatalf("an officer at an undesignated facility: %v", err)
	}
	for _, code := range []string{"mabes-polri", "lapas-metro"} {
		acc := &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_ADMINISTRATION}
		if _, err := screeningAs(t, env, code).DesignateHighRisk(ctx, &sinergiv1.DesignateHighRiskRequest{Access: acc, FacilityCode: "lapas-metro", Reason: "x"}); codeOf(err) != codes.PermissionDenied {
			t.Errorf("%s designates: %v", code, err)
		}
	}
	if _, err := ministry.DesignateHighRisk(ctx, &sinergiv1.DesignateHighRiskRequest{Access: ministryAdmin, FacilityCode: "polres-metro", Reason: "x"}); codeOf(err) != codes.InvalidArgument {
		t.Fatalf("designating a police unit: %v", err)
	}
	d, err := ministry.DesignateHighRisk(ctx, &sinergiv1.DesignateHighRiskRequest{Access: ministryAdmin, FacilityCode: "lapas-metro", Reason: "temuan sabu di ruang kunjungan"})
	if err != nil || !d.GetCreated() || !d.GetDesignation().GetActive() || d.GetDesignation().GetOperatorId() != ministryAdmin.GetOperatorId() {
		t.Fatalf("designate: %v %v", d, err)
	}
	if again, err := ministry.DesignateHighRisk(ctx, &sinergiv1.DesignateHighRiskRequest{Access: ministryAdmin, FacilityCode: "lapas-metro", Reason: "lagi"}); err != nil ||
		again.GetCreated() || again.GetDesignation().GetReason() != "temuan sabu di ruang kunjungan" {
		t.Fatalf("designate again: %v %v", again, err)
	}
	ls, err := screeningAs(t, env, "polsek-nusakambangan").ListHighRiskDesignations(ctx, &sinergiv1.ListHighRiskDesignationsRequest{})
	if err != nil || len(ls.GetDesignations()) != 2 { // the demo's and this one
		t.Fatalf("designations: %v %v", ls, err)
	}
	sc, err := metro.ScreenOfficer(ctx, officer)
	if err != nil || sc.GetScreening().GetRole() != sinergiv1.ScreenedRole_SCREENED_ROLE_OFFICER || sc.GetScreening().GetResult() != sinergiv1.ScreeningResult_SCREENING_RESULT_CLEAR {
		t.Fatalf("an officer at a designated facility: %v %v", sc, err)
	}
	// An officer's screening registers no visit.
	in := inmate(t, env, "lapas-metro", "187201")
	if _, err := metro.RegisterVisit(ctx, visitReq(officer.GetOfficer(), in, sc.GetScreening().GetToken(), sinergiv1.VisitOutcome_VISIT_OUTCOME_ADMITTED)); codeOf(err) != codes.FailedPrecondition {
		t.Fatalf("a visit with an officer's screening: %v", err)
	}
	if _, err := metro.RegisterVisit(ctx, visitReq(person("Ayu Lestari", birthday(), "187201"), in, "", sinergiv1.VisitOutcome_VISIT_OUTCOME_ADMITTED)); codeOf(err) != codes.FailedPrecondition {
		t.Fatalf("an unscreened visit once designated: %v", err)
	}
	l, err := ministry.LiftHighRisk(ctx, &sinergiv1.LiftHighRiskRequest{Access: ministryAdmin, FacilityCode: "lapas-metro"})
	if err != nil || l.GetDesignation().GetActive() || l.GetDesignation().GetLiftTime() == nil {
		t.Fatalf("lift: %v %v", l, err)
	}
	if _, err := ministry.LiftHighRisk(ctx, &sinergiv1.LiftHighRiskRequest{Access: ministryAdmin, FacilityCode: "lapas-metro"}); codeOf(err) != codes.NotFound {
		t.Fatalf("lift again: %v", err)
	}
	if _, err := metro.ScreenOfficer(ctx, officer); codeOf(err) != codes.FailedPrecondition {
		t.Fatalf("an officer once lifted: %v", err)
	}
	all, err := metro.ListHighRiskDesignations(ctx, &sinergiv1.ListHighRiskDesignationsRequest{FacilityCode: "lapas-metro", IncludeLifted: true})
	if err != nil || len(all.GetDesignations()) != 1 || all.GetDesignations()[0].GetActive() {
		t.Fatalf("lifted designations: %v %v", all, err)
	}
	// An officer whose NIP is not of the birth date given is refused, naming the field.
	bad := &sinergiv1.ScreenOfficerRequest{Access: warden, Officer: &sinergiv1.ScreenedPerson{FullName: "Agus Salim", BirthDate: "1985-03-16"},
		OfficerId: "198503152010011001"}
	if _, err := metro.ScreenOfficer(ctx, bad); codeOf(err) != codes.InvalidArgument || !slices.Equal(validate.FieldsOf(err), []string{"officer_id"}) {
		t.Fatalf("an NIP of another birth date: %v", err)
	}
}

// TestPoliceConsultVisits: a police unit reads the visits of an inmate, or
// of a person across facilities, within its reach for visitor screening,
// only for an investigation or a warrant with its case reference; every
// visit read is an audit subject.
func TestPoliceConsultVisits(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	metro := screeningAs(t, env, "lapas-metro")
	permisan := screeningAs(t, env, "lapas-permisan")
	in := inmate(t, env, "lapas-metro", "187201")
	visitor := person("Wulan Hasibuan", birthday(), "187201")
	v1, err := metro.RegisterVisit(ctx, visitReq(visitor, in, "", sinergiv1.VisitOutcome_VISIT_OUTCOME_ADMITTED))
	if err != nil {
		t.Fatal(err)
	}
	pin := inmate(t, env, "lapas-permisan", "330101")
	v2, err := permisan.RegisterVisit(ctx, visitReq(visitor, pin, "", sinergiv1.VisitOutcome_VISIT_OUTCOME_ADMITTED_AFTER_SEARCH))
	if err != nil {
		t.Fatal(err)
	}

	polres := screeningAs(t, env, "polres-metro")
	cctx, rid := withRequestID(ctx)
	got, err := polres.ListVisits(cctx, &sinergiv1.ListVisitsRequest{Access: investigator, InmateRecordId: in})
	if err != nil || len(got.GetVisits()) != 1 || got.GetVisits()[0].GetId() != v1.GetVisit().GetId() || got.GetVisits()[0].GetVisitor().GetNik() != visitor.GetNik() {
		t.Fatalf("the visits of an inmate: %v %v", got, err)
	}
	recs := auditOf(t, env, rid)
	if len(recs) != 1 || !slices.Contains(recs[0].Subjects, "visit/"+v1.GetVisit().GetId()) || !slices.Contains(recs[0].Agreements, mou) ||
		recs[0].Case != investigator.GetCaseReference() || recs[0].Purpose != "CRIMINAL_INVESTIGATION" {
		t.Fatalf("the consultation's audit record %+v", recs)
	}

	// Without a purpose that allows it, nothing.
	for name, tc := range map[string]struct {
		access *sinergiv1.AccessContext
		field  string
	}{
		"intelligence alone": {analyst, "access.purpose"},
		"security":           {&sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION}, "access.purpose"},
		"no case reference":  {&sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION}, "access.case_reference"},
		"a warrant's reference for an investigation": {&sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION, CaseReference: "Sprin/45/IX/2026/Reskrim"}, "access.case_reference"},
		"no access context":                          {nil, "access"},
	} {
		_, err := polres.ListVisits(ctx, &sinergiv1.ListVisitsRequest{Access: tc.access, InmateRecordId: in})
		if codeOf(err) != codes.InvalidArgument || !slices.Contains(validate.FieldsOf(err), tc.field) {
			t.Errorf("%s: %v, want INVALID_ARGUMENT on %s", name, err, tc.field)
		}
	}
	warrant := &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_WARRANT_EXECUTION, CaseReference: "Sp.Kap/12/X/2026/Reskrim"}
	if got, err := polres.ListVisits(ctx, &sinergiv1.ListVisitsRequest{Access: warrant, InmateRecordId: in}); err != nil || len(got.GetVisits()) != 1 {
		t.Fatalf("for a warrant: %v %v", got, err)
	}
	// A police unit names an inmate or a person.
	if _, err := polres.ListVisits(ctx, &sinergiv1.ListVisitsRequest{Access: investigator}); codeOf(err) != codes.InvalidArgument {
		t.Fatalf("the whole register: %v", err)
	}
	// Across facilities, within reach: Polres Metro sees Lapas Metro's visit
	// of the person, not Lapas Permisan's; Mabes sees both; by name too.
	byNIK := &sinergiv1.ScreenedPerson{Nik: visitor.GetNik()}
	ids := func(c sinergiv1.ScreeningServiceClient, p *sinergiv1.ScreenedPerson) []string {
		t.Helper()
		r, err := c.ListVisits(ctx, &sinergiv1.ListVisitsRequest{Access: investigator, Visitor: p})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, v := range r.GetVisits() {
			out = append(out, v.GetId())
		}
		slices.Sort(out)
		return out
	}
	both := []string{v1.GetVisit().GetId(), v2.GetVisit().GetId()}
	slices.Sort(both)
	if got := ids(polres, byNIK); !slices.Equal(got, []string{v1.GetVisit().GetId()}) {
		t.Errorf("Polres Metro, by NIK: %v", got)
	}
	mabes := screeningAs(t, env, "mabes-polri")
	if got := ids(mabes, byNIK); !slices.Equal(got, both) {
		t.Errorf("Mabes, by NIK: %v, want %v", got, both)
	}
	if got := ids(mabes, &sinergiv1.ScreenedPerson{FullName: "wulan  hasibuan", BirthDate: visitor.GetBirthDate()}); !slices.Equal(got, both) {
		t.Errorf("Mabes, by name: %v, want %v", got, both)
	}
	if got := ids(polres, &sinergiv1.ScreenedPerson{Nik: visitor.GetNik()[:15] + "9"}); len(got) != 0 {
		t.Errorf("another NIK: %v", got)
	}
	// The facility reads its own register, not another's.
	own, err := metro.ListVisits(ctx, &sinergiv1.ListVisitsRequest{Access: warden, Visitor: byNIK})
	if err != nil || len(own.GetVisits()) != 1 || own.GetVisits()[0].GetFacilityCode() != "lapas-metro" {
		t.Fatalf("the facility's own register: %v %v", own, err)
	}
	// The ministry oversees every facility's.
	ov := &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_OVERSIGHT}
	all, err := screeningAs(t, env, "kemenimipas").ListVisits(ctx, &sinergiv1.ListVisitsRequest{Access: ov, Visitor: byNIK})
	if err != nil || len(all.GetVisits()) != 2 {
		t.Fatalf("the ministry: %v %v", all, err)
	}
	// Paging: one at a time, newest first, nothing twice.
	var seen []string
	tok := ""
	for {
		r, err := mabes.ListVisits(ctx, &sinergiv1.ListVisitsRequest{Access: investigator, Visitor: byNIK, PageSize: 1, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range r.GetVisits() {
			seen = append(seen, v.GetId())
		}
		if tok = r.GetNextPageToken(); tok == "" {
			break
		}
	}
	slices.Sort(seen)
	if !slices.Equal(seen, both) {
		t.Fatalf("paged: %v", seen)
	}
	if _, err := polres.ListVisits(ctx, &sinergiv1.ListVisitsRequest{Access: investigator, Visitor: byNIK, PageToken: "x"}); codeOf(err) != codes.InvalidArgument {
		t.Fatalf("a bad page token: %v", err)
	}
}
