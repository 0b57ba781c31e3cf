package firearms_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestPolicyMatrix calls every method of FirearmsService as institutions
// the policy admits and as institutions it refuses, on one facility's
// register (Lapas Permisan): the refused kinds are PERMISSION_DENIED, the
// admitted ones outside the facility's reach NOT_FOUND or nothing, the
// ones within it succeed. A method missing from the table fails the test.
func TestPolicyMatrix(t *testing.T) {
	env, now := start(t, db)
	ctx := context.Background()
	permisan := as(t, env, "lapas-permisan")
	polda := as(t, env, "polda-jawa-tengah")
	w, nip := licensed(t, env, "lapas-permisan", "polda-jawa-tengah", sinergiv1.WeaponCategory_WEAPON_CATEGORY_RUBBER_BULLET, now)
	loose := register(t, permisan, sinergiv1.WeaponCategory_WEAPON_CATEGORY_GAS)
	pending := applyOwnership(t, permisan, loose)
	insp, err := polda.RecordInspection(ctx, &sinergiv1.RecordInspectionRequest{Access: supervisor, FacilityCode: "lapas-permisan",
		InspectTime: timestamppb.New(now.Add(-time.Hour)), InspectorIds: []string{"85051234"},
		Checks: []*sinergiv1.InspectionCheck{{WeaponId: loose.GetId(), Result: sinergiv1.CheckResult_CHECK_RESULT_MISSING}}})
	if err != nil {
		t.Fatal(err)
	}
	inspID := insp.GetInspection().GetId()
	receive(t, permisan, "lapas-permisan", w.GetCalibre(), 10)
	if _, err := permisan.IssueWeapon(ctx, &sinergiv1.IssueWeaponRequest{Access: keeper, WeaponId: w.GetId(), HolderNip: nip, Duty: "Apel"}); err != nil {
		t.Fatal(err)
	}
	if _, err := permisan.ReturnWeapon(ctx, &sinergiv1.ReturnWeaponRequest{Access: keeper, WeaponId: w.GetId()}); err != nil {
		t.Fatal(err)
	}

	type call func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error
	calls := map[string]call{
		"RegisterWeapon": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			_, err := c.RegisterWeapon(ctx, &sinergiv1.RegisterWeaponRequest{Access: ac, Category: sinergiv1.WeaponCategory_WEAPON_CATEGORY_ELECTRIC_SHOCK,
				Make: "Pindad", Model: "Baton", SerialNumber: serial(t), Armoury: "Gudang"})
			return err
		},
		"UpdateWeaponStatus": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			_, err := c.UpdateWeaponStatus(ctx, &sinergiv1.UpdateWeaponStatusRequest{Access: ac, Id: loose.GetId(), Armoury: "Gudang " + serial(t), Note: "Pindah"})
			return err
		},
		"ReportWeaponIncident": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			_, err := c.ReportWeaponIncident(ctx, &sinergiv1.ReportWeaponIncidentRequest{Access: ac, IdempotencyKey: "m-" + serial(t), WeaponId: w.GetId(),
				Incident: sinergiv1.WeaponIncident_WEAPON_INCIDENT_DISCHARGE, OccurTime: timestamppb.New(now.Add(-time.Minute)), Place: "Gudang",
				Narrative: "Uji tembak", RoundsDischarged: 1})
			return err
		},
		"RecordAmmunition": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			_, err := c.RecordAmmunition(ctx, &sinergiv1.RecordAmmunitionRequest{Access: ac, Calibre: w.GetCalibre(),
				Change: sinergiv1.AmmunitionChange_AMMUNITION_CHANGE_RECEIVED, Rounds: 1})
			return err
		},
		"ApplyForLicence": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			_, err := c.ApplyForLicence(ctx, &sinergiv1.ApplyForLicenceRequest{Access: ac, Kind: sinergiv1.LicenceKind_LICENCE_KIND_HOLDER,
				HolderNip: freshNIP(), HolderName: holderName, Category: sinergiv1.WeaponCategory_WEAPON_CATEGORY_GAS})
			return err
		},
		"ApproveLicence": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			_, err := c.ApproveLicence(ctx, &sinergiv1.ApproveLicenceRequest{Access: ac, Id: pending.GetId(), Number: "SI/M/" + serial(t),
				ExpireTime: timestamppb.New(now.AddDate(1, 0, 0))})
			return err
		},
		"RenewLicence": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			_, err := c.RenewLicence(ctx, &sinergiv1.RenewLicenceRequest{Access: ac, Id: pending.GetId(), ExpireTime: timestamppb.New(now.AddDate(2, 0, 0))})
			return err
		},
		"RefuseLicence": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			_, err := c.RefuseLicence(ctx, &sinergiv1.RefuseLicenceRequest{Access: ac, Id: applyOwnership(t, permisan, register(t, permisan, sinergiv1.WeaponCategory_WEAPON_CATEGORY_AIR)).GetId(), Reason: "x"})
			return err
		},
		"RevokeLicence": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			l := approve(t, polda, applyOwnership(t, permisan, register(t, permisan, sinergiv1.WeaponCategory_WEAPON_CATEGORY_AIR)), time.Time{}, now.AddDate(1, 0, 0))
			_, err := c.RevokeLicence(ctx, &sinergiv1.RevokeLicenceRequest{Access: ac, Id: l.GetId(), Reason: "x"})
			return err
		},
		"IssueWeapon": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			_, err := c.IssueWeapon(ctx, &sinergiv1.IssueWeaponRequest{Access: ac, WeaponId: w.GetId(), HolderNip: nip, Duty: "Pos"})
			return err
		},
		"ReturnWeapon": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			_, err := c.ReturnWeapon(ctx, &sinergiv1.ReturnWeaponRequest{Access: ac, WeaponId: w.GetId()})
			return err
		},
		"RecordInspection": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			_, err := c.RecordInspection(ctx, &sinergiv1.RecordInspectionRequest{Access: ac, FacilityCode: "lapas-permisan",
				InspectTime: timestamppb.New(now.Add(-time.Minute)), InspectorIds: []string{"85051234"},
				Checks: []*sinergiv1.InspectionCheck{{WeaponId: w.GetId(), Result: sinergiv1.CheckResult_CHECK_RESULT_PRESENT,
					Condition: sinergiv1.WeaponCondition_WEAPON_CONDITION_SERVICEABLE}}})
			return err
		},
		"ResolveFinding": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			_, err := c.ResolveFinding(ctx, &sinergiv1.ResolveFindingRequest{Access: ac, InspectionId: inspID, Number: 1, Resolution: "Ditemukan"})
			return err
		},
		"GetWeapon": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			_, err := c.GetWeapon(ctx, &sinergiv1.GetWeaponRequest{Access: ac, Id: w.GetId()})
			return err
		},
		"ListWeapons": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			r, err := c.ListWeapons(ctx, &sinergiv1.ListWeaponsRequest{Access: ac, FacilityCode: "lapas-permisan"})
			return emptyIsNotFound(err, len(r.GetWeapons()))
		},
		"GetLicence": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			_, err := c.GetLicence(ctx, &sinergiv1.GetLicenceRequest{Access: ac, Id: pending.GetId()})
			return err
		},
		"ListLicences": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			r, err := c.ListLicences(ctx, &sinergiv1.ListLicencesRequest{Access: ac, FacilityCode: "lapas-permisan"})
			return emptyIsNotFound(err, len(r.GetLicences()))
		},
		"ListAssignments": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			r, err := c.ListAssignments(ctx, &sinergiv1.ListAssignmentsRequest{Access: ac, WeaponId: w.GetId()})
			return emptyIsNotFound(err, len(r.GetAssignments()))
		},
		"ListAmmunition": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			r, err := c.ListAmmunition(ctx, &sinergiv1.ListAmmunitionRequest{Access: ac, FacilityCode: "lapas-permisan"})
			return emptyIsNotFound(err, len(r.GetStocks()))
		},
		"GetInspection": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			_, err := c.GetInspection(ctx, &sinergiv1.GetInspectionRequest{Access: ac, Id: inspID})
			return err
		},
		"ListInspections": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			r, err := c.ListInspections(ctx, &sinergiv1.ListInspectionsRequest{Access: ac, FacilityCode: "lapas-permisan"})
			return emptyIsNotFound(err, len(r.GetInspections()))
		},
		"ListFirearmEvents": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			r, err := c.ListFirearmEvents(ctx, &sinergiv1.ListFirearmEventsRequest{Access: ac, FacilityCode: "lapas-permisan"})
			return emptyIsNotFound(err, len(r.GetEvents()))
		},
		"WatchFirearms": func(c sinergiv1.FirearmsServiceClient, ac *sinergiv1.AccessContext) error {
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			st, err := c.WatchFirearms(wctx, &sinergiv1.WatchFirearmsRequest{Access: ac})
			if err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		},
		"FirearmsStats": func(c sinergiv1.FirearmsServiceClient, _ *sinergiv1.AccessContext) error {
			r, err := c.FirearmsStats(ctx, &sinergiv1.FirearmsStatsRequest{FacilityCode: "lapas-permisan"})
			return emptyIsNotFound(err, int(r.GetTotalWeapons()))
		},
	}
	sd, err := protoregistry.GlobalFiles.FindDescriptorByName("sinergi.v1.FirearmsService")
	if err != nil {
		t.Fatal(err)
	}
	ms := sd.(protoreflect.ServiceDescriptor).Methods()
	for i := range ms.Len() {
		if calls[string(ms.Get(i).Name())] == nil {
			t.Errorf("the matrix does not call %s", ms.Get(i).Name())
		}
	}

	const ok, denied, missing = codes.OK, codes.PermissionDenied, codes.NotFound
	// Who calls: the facility, another facility, the licensing Polda, the
	// Polres in its region, a Polda elsewhere, Mabes, the ministry.
	who := []string{"lapas-permisan", "lapas-cipinang", "polda-jawa-tengah", "polres-cilacap", "polda-lampung", "mabes-polri", "kemenimipas"}
	for _, tc := range []struct {
		method string
		want   []codes.Code // in the order of who
	}{
		{"GetWeapon", []codes.Code{ok, missing, ok, ok, missing, ok, ok}},
		{"ListWeapons", []codes.Code{ok, missing, ok, ok, missing, ok, ok}},
		{"GetLicence", []codes.Code{ok, missing, ok, ok, missing, ok, ok}},
		{"ListLicences", []codes.Code{ok, missing, ok, ok, missing, ok, ok}},
		{"ListAssignments", []codes.Code{ok, missing, ok, ok, missing, ok, ok}},
		{"ListAmmunition", []codes.Code{ok, missing, ok, ok, missing, ok, ok}},
		{"GetInspection", []codes.Code{ok, missing, ok, ok, missing, ok, ok}},
		{"ListInspections", []codes.Code{ok, missing, ok, ok, missing, ok, ok}},
		{"ListFirearmEvents", []codes.Code{ok, missing, ok, ok, missing, ok, ok}},
		{"FirearmsStats", []codes.Code{ok, missing, ok, ok, missing, ok, ok}},
		{"WatchFirearms", []codes.Code{ok, ok, ok, ok, ok, ok, denied}},
		{"RecordInspection", []codes.Code{denied, denied, ok, ok, missing, ok, denied}},
		// The licensing unit alone decides; a Polres may not call. (The
		// renewal renews what the approval approved.)
		{"ApproveLicence", []codes.Code{denied, denied, ok, denied, missing, codes.FailedPrecondition, denied}},
		{"RenewLicence", []codes.Code{denied, denied, ok, denied, missing, codes.FailedPrecondition, denied}},
		{"RefuseLicence", []codes.Code{denied, denied, ok, denied, missing, codes.FailedPrecondition, denied}},
		{"RevokeLicence", []codes.Code{denied, denied, ok, denied, missing, codes.FailedPrecondition, denied}},
		// The facility's own acts; another facility finds nothing of Permisan's.
		{"UpdateWeaponStatus", []codes.Code{ok, missing, denied, denied, denied, denied, denied}},
		{"ReportWeaponIncident", []codes.Code{ok, missing, denied, denied, denied, denied, denied}},
		{"IssueWeapon", []codes.Code{ok, missing, denied, denied, denied, denied, denied}},
		{"ReturnWeapon", []codes.Code{ok, missing, denied, denied, denied, denied, denied}},
		{"ResolveFinding", []codes.Code{ok, missing, denied, denied, denied, denied, denied}},
		{"RegisterWeapon", []codes.Code{ok, ok, denied, denied, denied, denied, denied}},
		{"RecordAmmunition", []codes.Code{ok, ok, denied, denied, denied, denied, denied}},
		{"ApplyForLicence", []codes.Code{ok, ok, denied, denied, denied, denied, denied}},
	} {
		t.Run(tc.method, func(t *testing.T) {
			// Successful calls in order of who change state: the one that
			// succeeds is run last (a renewal after an approval, say).
			order := []int{}
			for i, c := range tc.want {
				if c != ok {
					order = append(order, i)
				}
			}
			for i, c := range tc.want {
				if c == ok {
					order = append(order, i)
				}
			}
			if tc.method == "ReturnWeapon" {
				if err := calls["IssueWeapon"](permisan, keeper); err != nil {
					t.Fatal(err)
				}
			}
			for _, i := range order {
				code := who[i]
				err := calls[tc.method](as(t, env, code), accessFor(code))
				if codeOf(err) != tc.want[i] {
					t.Errorf("%s as %s: %v, want %s", tc.method, code, err, tc.want[i])
				}
				if tc.method == "IssueWeapon" && codeOf(err) == ok {
					if err := calls["ReturnWeapon"](permisan, keeper); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

// emptyIsNotFound reads an empty answer of a listing as NOT_FOUND: a
// listing outside reach is empty, never refused.
func emptyIsNotFound(err error, n int) error {
	if err == nil && n == 0 {
		return errNotFoundEmpty
	}
	return err
}

var errNotFoundEmpty = status.Error(codes.NotFound, "empty")
