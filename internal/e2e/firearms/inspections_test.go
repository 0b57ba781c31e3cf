package firearms_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestInspection: the police inspect an armoury; a missing weapon, a serial
// that does not match and a weapon in service found unfit each raise a
// finding with the deadline, as does each follow-up action; the facility
// resolves them, once; both sides are told; a unit outside the region
// cannot inspect, and weapons of other facilities are not the inspected
// facility's.
func TestInspection(t *testing.T) {
	env, now := start(t, db)
	ctx := context.Background()
	permisan := as(t, env, "lapas-permisan")
	fine := register(t, permisan, sinergiv1.WeaponCategory_WEAPON_CATEGORY_FIREARM)
	gone := register(t, permisan, sinergiv1.WeaponCategory_WEAPON_CATEGORY_GAS)
	mismatch := register(t, permisan, sinergiv1.WeaponCategory_WEAPON_CATEGORY_AIR)
	worn := register(t, permisan, sinergiv1.WeaponCategory_WEAPON_CATEGORY_ELECTRIC_SHOCK)
	facilityWatch := openWatch(t, permisan, keeper, "")
	polda := as(t, env, "polda-jawa-tengah")
	poldaWatch := openWatch(t, polda, supervisor, "")
	polres := as(t, env, "polres-cilacap")
	polresWatch := openWatch(t, polres, supervisor, "")
	// Mabes licenses the facility's firearms but did not inspect.
	mabesWatch := openWatch(t, as(t, env, "mabes-polri"), supervisor, "")

	resolveBy := now.AddDate(0, 0, 14)
	req := &sinergiv1.RecordInspectionRequest{Access: supervisor, FacilityCode: "lapas-permisan", InspectTime: timestamppb.New(now.Add(-2 * time.Hour)),
		InspectorIds: []string{"85051234", "87101234"},
		Checks: []*sinergiv1.InspectionCheck{
			{WeaponId: fine.GetId(), Result: sinergiv1.CheckResult_CHECK_RESULT_PRESENT, Condition: sinergiv1.WeaponCondition_WEAPON_CONDITION_SERVICEABLE},
			{WeaponId: gone.GetId(), Result: sinergiv1.CheckResult_CHECK_RESULT_MISSING, Note: "Tidak ada di rak"},
			{WeaponId: mismatch.GetId(), Result: sinergiv1.CheckResult_CHECK_RESULT_SERIAL_MISMATCH, Condition: sinergiv1.WeaponCondition_WEAPON_CONDITION_SERVICEABLE},
			{WeaponId: worn.GetId(), Result: sinergiv1.CheckResult_CHECK_RESULT_PRESENT, Condition: sinergiv1.WeaponCondition_WEAPON_CONDITION_NEEDS_REPAIR},
		},
		Actions:       []*sinergiv1.FollowUpAction{{Description: "Pasang kunci ganda pada gudang senjata", DueTime: timestamppb.New(now.AddDate(0, 1, 0))}},
		ResolveByTime: timestamppb.New(resolveBy), Note: "Pemeriksaan rutin triwulan IV"}

	// Who may not record it.
	_, err := as(t, env, "polda-lampung").RecordInspection(ctx, req)
	wantCode(t, "a Polda of another province", err, codes.NotFound)
	_, err = as(t, env, "lapas-cipinang").RecordInspection(ctx, req)
	wantCode(t, "a facility", err, codes.PermissionDenied)
	foreign := register(t, as(t, env, "lapas-cipinang"), sinergiv1.WeaponCategory_WEAPON_CATEGORY_GAS)
	bad := &sinergiv1.RecordInspectionRequest{Access: supervisor, FacilityCode: "lapas-permisan", InspectTime: req.GetInspectTime(),
		InspectorIds: []string{"85051234"}, Checks: []*sinergiv1.InspectionCheck{
			{WeaponId: fine.GetId(), Result: sinergiv1.CheckResult_CHECK_RESULT_PRESENT, Condition: sinergiv1.WeaponCondition_WEAPON_CONDITION_SERVICEABLE},
			{WeaponId: foreign.GetId(), Result: sinergiv1.CheckResult_CHECK_RESULT_PRESENT, Condition: sinergiv1.WeaponCondition_WEAPON_CONDITION_SERVICEABLE}}}
	_, err = polda.RecordInspection(ctx, bad)
	wantCode(t, "another facility's weapon checked", err, codes.InvalidArgument, "checks[1].weapon_id")
	bad.Checks[1] = &sinergiv1.InspectionCheck{WeaponId: fine.GetId(), Result: sinergiv1.CheckResult_CHECK_RESULT_MISSING}
	_, err = polda.RecordInspection(ctx, bad)
	wantCode(t, "a weapon checked twice", err, codes.InvalidArgument, "checks[1].weapon_id")
	bad.Checks = bad.Checks[:1]
	bad.InspectorIds = []string{"198503152010011001"}
	_, err = polda.RecordInspection(ctx, bad)
	wantCode(t, "an inspector by NIP", err, codes.InvalidArgument, "inspector_ids[0]")

	resp, err := polres.RecordInspection(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	insp := resp.GetInspection()
	type f struct {
		Weapon string
		Kind   sinergiv1.FindingKind
		Due    time.Time
	}
	var got []f
	for _, x := range insp.GetFindings() {
		got = append(got, f{x.GetWeaponId(), x.GetKind(), x.GetDueTime().AsTime()})
		if x.GetStatus() != sinergiv1.FindingStatus_FINDING_STATUS_OPEN {
			t.Errorf("finding %d is %s", x.GetNumber(), x.GetStatus())
		}
	}
	want := []f{
		{gone.GetId(), sinergiv1.FindingKind_FINDING_KIND_MISSING, resolveBy},
		{mismatch.GetId(), sinergiv1.FindingKind_FINDING_KIND_SERIAL_MISMATCH, resolveBy},
		{worn.GetId(), sinergiv1.FindingKind_FINDING_KIND_CONDITION, resolveBy},
		{"", sinergiv1.FindingKind_FINDING_KIND_FOLLOW_UP, now.AddDate(0, 1, 0)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("findings (-want +got):\n%s", diff)
	}
	if insp.GetInspectorCode() != "polres-cilacap" || len(insp.GetChecks()) != 4 {
		t.Fatalf("inspection: %v", insp)
	}
	// The facility, the inspecting Polres and the Polda are told of the findings.
	for _, w := range []*watch{facilityWatch, polresWatch, poldaWatch} {
		if ev, _ := w.until(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_FINDING_RAISED, insp.GetId()); ev.GetFindingNumber() != 1 {
			t.Fatalf("first finding event: %v", ev)
		}
	}

	// The facility resolves the missing weapon's finding.
	res, err := permisan.ResolveFinding(ctx, &sinergiv1.ResolveFindingRequest{Access: keeper, InspectionId: insp.GetId(), Number: 1,
		Resolution: "Ditemukan di ruang servis; dicatat di register"})
	if err != nil || res.GetInspection().GetFindings()[0].GetStatus() != sinergiv1.FindingStatus_FINDING_STATUS_RESOLVED ||
		res.GetInspection().GetFindings()[0].GetResolveOperatorId() != keeper.GetOperatorId() {
		t.Fatalf("resolved: %v %v", res, err)
	}
	_, err = permisan.ResolveFinding(ctx, &sinergiv1.ResolveFindingRequest{Access: keeper, InspectionId: insp.GetId(), Number: 1, Resolution: "lagi"})
	wantRefused(t, "resolved twice", err, "was resolved on")
	_, err = permisan.ResolveFinding(ctx, &sinergiv1.ResolveFindingRequest{Access: keeper, InspectionId: insp.GetId(), Number: 9, Resolution: "x"})
	wantCode(t, "a finding that does not exist", err, codes.NotFound)
	_, err = as(t, env, "lapas-cipinang").ResolveFinding(ctx, &sinergiv1.ResolveFindingRequest{Access: keeper, InspectionId: insp.GetId(), Number: 2, Resolution: "x"})
	wantCode(t, "another facility resolving", err, codes.NotFound)
	open, err := polres.ListInspections(ctx, &sinergiv1.ListInspectionsRequest{Access: supervisor, FacilityCode: "lapas-permisan", OpenFindingsOnly: true})
	if err != nil || len(open.GetInspections()) == 0 {
		t.Fatalf("inspections with open findings: %v %v", open, err)
	}
	for _, n := range []int32{2, 3, 4} {
		if _, err := permisan.ResolveFinding(ctx, &sinergiv1.ResolveFindingRequest{Access: keeper, InspectionId: insp.GetId(), Number: n, Resolution: "Selesai"}); err != nil {
			t.Fatal(err)
		}
	}
	open, err = polres.ListInspections(ctx, &sinergiv1.ListInspectionsRequest{Access: supervisor, FacilityCode: "lapas-permisan", OpenFindingsOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range open.GetInspections() {
		if in.GetId() == insp.GetId() {
			t.Fatalf("a resolved inspection listed with open findings")
		}
	}
	// The inspecting unit is told of each resolution.
	if ev, _ := polresWatch.until(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_FINDING_RESOLVED, insp.GetId()); ev.GetActorCode() != "lapas-permisan" {
		t.Fatalf("resolution event: %v", ev)
	}
	// Mabes was told of none of it (it hears of the firearm registered next).
	marker := register(t, permisan, sinergiv1.WeaponCategory_WEAPON_CATEGORY_FIREARM)
	_, before := mabesWatch.until(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_WEAPON_REGISTERED, marker.GetId())
	for _, ev := range before {
		if ev.GetInspectionId() != "" {
			t.Fatalf("Mabes was told of %v", ev)
		}
	}
	poldaInsp, err := polda.RecordInspection(ctx, &sinergiv1.RecordInspectionRequest{Access: supervisor, FacilityCode: "lapas-permisan",
		InspectTime: timestamppb.New(now.Add(-time.Hour)), InspectorIds: []string{"85051234"},
		Checks: []*sinergiv1.InspectionCheck{{WeaponId: fine.GetId(), Result: sinergiv1.CheckResult_CHECK_RESULT_PRESENT, Condition: sinergiv1.WeaponCondition_WEAPON_CONDITION_SERVICEABLE}}})
	if err != nil {
		t.Fatal(err)
	}
	if ev, _ := poldaWatch.until(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_INSPECTION_RECORDED, poldaInsp.GetInspection().GetId()); ev.GetActorCode() != "polda-jawa-tengah" {
		t.Fatalf("the Polda's own inspection: %v", ev)
	}
}
