package screening_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/sinergi-id/sinergi/internal/screening"
	"github.com/sinergi-id/sinergi/internal/servertest"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// The agreement every screening of the demo directory rests on: the 2025
// MoU covers visitor screening between every facility and every unit.
const mou = "mou-2025-kemenimipas-polri"

// TestClear: a visitor no list in force names is CLEAR, with nothing
// else; the call's audit record names the screening, the person (by a
// pseudonym, never the NIK) and the inmate, under the agreement consulted;
// no unit is told.
func TestClear(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	metro := screeningAs(t, env, "lapas-metro")
	in := inmate(t, env, "lapas-metro", "187201")
	p := person("Yoga Permana", birthday(), "187201")

	cctx, rid := withRequestID(ctx)
	sc := screen(t, cctx, metro, p, in)
	if sc.GetResult() != sinergiv1.ScreeningResult_SCREENING_RESULT_CLEAR || sc.GetInstruction() != sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_UNSPECIFIED ||
		sc.GetMatch() != sinergiv1.ScreeningMatch_SCREENING_MATCH_UNSPECIFIED || len(sc.GetCallInstitutionCodes()) != 0 || sc.GetToken() == "" ||
		sc.GetFacilityCode() != "lapas-metro" || sc.GetRole() != sinergiv1.ScreenedRole_SCREENED_ROLE_VISITOR {
		t.Fatalf("screening %v, want CLEAR and nothing else", sc)
	}
	if strings.Contains(sc.GetToken(), p.GetNik()) || strings.Contains(sc.GetToken(), "Yoga") {
		t.Fatalf("the token carries who was screened: %s", sc.GetToken())
	}
	recs := auditOf(t, env, rid)
	if len(recs) != 1 {
		t.Fatalf("audit records %+v, want the call's alone", recs)
	}
	r := recs[0]
	if r.Caller != "lapas-metro" || r.Status != "OK" || r.Purpose != "SECURITY_COORDINATION" || !slices.Equal(r.Agreements, []string{mou}) {
		t.Errorf("audit record %+v", r)
	}
	want := []string{"screening/" + sc.GetId(), "custody/" + in}
	for _, s := range want {
		if !slices.Contains(r.Subjects, s) {
			t.Errorf("audit subjects %v lack %s", r.Subjects, s)
		}
	}
	if !slices.ContainsFunc(r.Subjects, func(s string) bool { return strings.HasPrefix(s, "person/") }) {
		t.Errorf("audit subjects %v name no person", r.Subjects)
	}
	for _, s := range r.Subjects {
		if strings.Contains(s, p.GetNik()) {
			t.Errorf("audit subject %s carries the NIK", s)
		}
	}
	var refs int
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM screening_referrals WHERE screening_id = $1`, sc.GetId()).Scan(&refs); err != nil || refs != 0 {
		t.Fatalf("referrals of a CLEAR screening: %d %v", refs, err)
	}
}

// TestReferLive: a visitor on a unit's list is REFER with the handling
// instruction and the kind of match, nothing of why; the owning unit,
// watching, is told at once, with the facility, the inmate visited and
// the visit time, wherever the facility is (the agreement, not its
// jurisdiction); the facility's audit record says no more than its
// answer, and the referral is recorded as the owning unit's.
func TestReferLive(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	polres := screeningAs(t, env, "polres-metro")
	other := screeningAs(t, env, "polres-cilacap")
	cipinang := screeningAs(t, env, "lapas-cipinang")
	in := inmate(t, env, "lapas-cipinang", "317501")

	byNIK := person("Bambang Sugeng Riyadi", birthday(), "187201")
	e1 := list(t, polres, byNIK, sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_REFUSE_ENTRY, time.Now().AddDate(0, 6, 0))
	// By name and birth date alone, a spelling variant matches.
	birth := birthday()
	e2 := list(t, polres, &sinergiv1.ScreenedPerson{FullName: "Muhammad Rizky Ramadhan", BirthDate: birth},
		sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_ADMIT_WITH_SEARCH, time.Now().AddDate(0, 6, 0))
	byName := person("Mohammad Rizky Ramadhan", birth, "317501")

	w := watch(t, ctx, polres, "")
	ow := watch(t, ctx, other, "")

	visit := time.Now().Add(10 * time.Minute).Truncate(time.Second)
	cctx, rid := withRequestID(ctx)
	r, err := cipinang.ScreenVisitor(cctx, &sinergiv1.ScreenVisitorRequest{Access: warden, Visitor: byNIK,
		Relationship: sinergiv1.VisitorRelationship_VISITOR_RELATIONSHIP_SPOUSE, InmateRecordId: in, VisitTime: timestampOf(visit)})
	if err != nil {
		t.Fatal(err)
	}
	sc := r.GetScreening()
	want := &sinergiv1.Screening{Id: sc.GetId(), Token: sc.GetToken(), FacilityCode: "lapas-cipinang", Role: sinergiv1.ScreenedRole_SCREENED_ROLE_VISITOR,
		Result: sinergiv1.ScreeningResult_SCREENING_RESULT_REFER, Instruction: sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_REFUSE_ENTRY,
		Match: sinergiv1.ScreeningMatch_SCREENING_MATCH_NIK, ScreenTime: sc.GetScreenTime(), VisitTime: timestampOf(visit), ExpireTime: sc.GetExpireTime()}
	if diff := cmp.Diff(want, sc, protocmp.Transform()); diff != "" {
		t.Fatalf("REFER (-want +got):\n%s", diff)
	}

	ref := w.next()
	wantRef := &sinergiv1.ScreeningReferral{Id: ref.GetId(), ScreeningId: sc.GetId(), EntryId: e1.GetId(), OwnerCode: "polres-metro",
		Match: sinergiv1.ScreeningMatch_SCREENING_MATCH_NIK, Instruction: sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_REFUSE_ENTRY,
		FacilityCode: "lapas-cipinang", Role: sinergiv1.ScreenedRole_SCREENED_ROLE_VISITOR, Person: byNIK,
		Relationship: sinergiv1.VisitorRelationship_VISITOR_RELATIONSHIP_SPOUSE, InmateRecordId: in, VisitTime: timestampOf(visit),
		ScreenTime: sc.GetScreenTime()}
	if diff := cmp.Diff(wantRef, ref, protocmp.Transform()); diff != "" {
		t.Fatalf("referral (-want +got):\n%s", diff)
	}

	// The facility's record: the screening, the person, the inmate, the
	// agreement; the owning unit's: the same and its entry, as its own.
	recs := auditOf(t, env, rid)
	if len(recs) != 2 {
		t.Fatalf("audit records %+v, want the call's and the referral's", recs)
	}
	call, owner := recs[0], recs[1]
	if call.Method != sinergiv1.ScreeningService_ScreenVisitor_FullMethodName {
		call, owner = owner, call
	}
	if call.Caller != "lapas-cipinang" || !slices.Equal(call.Agreements, []string{mou}) || slices.ContainsFunc(call.Subjects, func(s string) bool {
		return strings.HasPrefix(s, "screening-entry/") || strings.Contains(s, "polres")
	}) || !slices.Contains(call.Subjects, "screening/"+sc.GetId()) || !slices.Contains(call.Subjects, "custody/"+in) {
		t.Errorf("the facility's record %+v", call)
	}
	if owner.Method != screening.ReferralMethod || owner.Caller != "polres-metro" || !slices.Equal(owner.Agreements, []string{mou}) ||
		!slices.Contains(owner.Subjects, "screening-entry/"+e1.GetId()) || !slices.Contains(owner.Subjects, "screening/"+sc.GetId()) {
		t.Errorf("the owning unit's record %+v", owner)
	}
	personOf := func(subjects []string) string {
		for _, s := range subjects {
			if strings.HasPrefix(s, "person/") {
				return s
			}
		}
		return ""
	}
	if personOf(call.Subjects) == "" || personOf(call.Subjects) != personOf(owner.Subjects) {
		t.Errorf("the two records name the person as %q and %q", personOf(call.Subjects), personOf(owner.Subjects))
	}

	// A name match says so.
	sc2 := screen(t, ctx, cipinang, byName, in)
	if sc2.GetResult() != sinergiv1.ScreeningResult_SCREENING_RESULT_REFER || sc2.GetMatch() != sinergiv1.ScreeningMatch_SCREENING_MATCH_NAME_AND_BIRTH_DATE ||
		sc2.GetInstruction() != sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_ADMIT_WITH_SEARCH {
		t.Fatalf("name match %v", sc2)
	}
	ref2 := w.next()
	if ref2.GetEntryId() != e2.GetId() || ref2.GetMatch() != sinergiv1.ScreeningMatch_SCREENING_MATCH_NAME_AND_BIRTH_DATE || ref2.GetScreeningId() != sc2.GetId() {
		t.Fatalf("name-match referral %v", ref2)
	}

	// Another unit's stream carries nothing of it: its next message is its
	// own entry's referral.
	mine := person("Heru Setiawan", birthday(), "330101")
	e3 := list(t, other, mine, sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_CALL_OWNING_UNIT, time.Now().AddDate(0, 1, 0))
	sc3 := screen(t, ctx, cipinang, mine, in)
	if sc3.GetInstruction() != sinergiv1.HandlingInstruction_HANDLING_INSTRUCTION_CALL_OWNING_UNIT ||
		!slices.Equal(sc3.GetCallInstitutionCodes(), []string{"polres-cilacap"}) {
		t.Fatalf("call the owning unit: %v", sc3)
	}
	if got := ow.next(); got.GetEntryId() != e3.GetId() {
		t.Fatalf("the other unit was told of %v", got)
	}
	// The facility can do nothing with the referral's id or the entry.
	if !proto.Equal(sc3.GetVisitTime(), sc3.GetScreenTime()) {
		t.Errorf("visit time %v, want the screening's when none is given (%v)", sc3.GetVisitTime(), sc3.GetScreenTime())
	}
}
