package firearms_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestIssueAndReturn: an officer with a holder licence draws a licensed
// weapon with ammunition; the weapon's current holder is known; every
// round comes back or is reported discharged; the armoury's stock follows.
func TestIssueAndReturn(t *testing.T) {
	env, now := start(t, db)
	ctx := context.Background()
	permisan := as(t, env, "lapas-permisan")
	nip := freshNIP()
	approve(t, as(t, env, "polda-jawa-tengah"), applyHolder(t, permisan, nip, sinergiv1.WeaponCategory_WEAPON_CATEGORY_RUBBER_BULLET), time.Time{}, now.AddDate(1, 0, 0))
	// A calibre of this test's own, so that its stock is its own.
	calibre := "RB-" + serial(t)
	r, err := permisan.RegisterWeapon(ctx, &sinergiv1.RegisterWeaponRequest{Access: keeper, Category: sinergiv1.WeaponCategory_WEAPON_CATEGORY_RUBBER_BULLET,
		Make: "Pindad", Model: "SPR-RB", Calibre: calibre, SerialNumber: serial(t), Armoury: "Gudang A"})
	if err != nil {
		t.Fatal(err)
	}
	w := r.GetWeapon()
	approve(t, as(t, env, "polda-jawa-tengah"), applyOwnership(t, permisan, w), time.Time{}, now.AddDate(1, 0, 0))
	receive(t, permisan, "lapas-permisan", calibre, 20)

	_, err = permisan.IssueWeapon(ctx, &sinergiv1.IssueWeaponRequest{Access: keeper, WeaponId: w.GetId(), HolderNip: nip, Duty: "Pos jaga P2U", Rounds: 30})
	wantRefused(t, "more rounds than in stock", err, "holds 20 rounds")
	iss, err := permisan.IssueWeapon(ctx, &sinergiv1.IssueWeaponRequest{Access: keeper, WeaponId: w.GetId(), HolderNip: nip, Duty: "Pos jaga P2U", Rounds: 12})
	if err != nil {
		t.Fatal(err)
	}
	a := iss.GetAssignment()
	if a.GetHolderNip() != nip || a.GetHolderName() != holderName || a.GetRoundsIssued() != 12 || a.GetReturnTime() != nil || a.GetHolderLicenceId() == "" {
		t.Fatalf("assignment: %v", a)
	}
	got, err := as(t, env, "polres-cilacap").GetWeapon(ctx, &sinergiv1.GetWeaponRequest{Access: supervisor, Id: w.GetId()})
	if err != nil || got.GetWeapon().GetCurrentAssignment().GetId() != a.GetId() || got.GetWeapon().GetCurrentAssignment().GetHolderNip() != nip {
		t.Fatalf("the police see who holds it: %v %v", got, err)
	}
	stock := func() (int64, int64) {
		t.Helper()
		list, err := permisan.ListAmmunition(ctx, &sinergiv1.ListAmmunitionRequest{Access: keeper, FacilityCode: "lapas-permisan"})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range list.GetStocks() {
			if m.GetCalibre() == calibre {
				return m.GetRounds(), m.GetIssuedRounds()
			}
		}
		t.Fatalf("no stock of %s in %v", calibre, list)
		return 0, 0
	}
	if in, out := stock(); in != 8 || out != 12 {
		t.Fatalf("stock after the issue: %d in, %d out; want 8, 12", in, out)
	}

	_, err = permisan.IssueWeapon(ctx, &sinergiv1.IssueWeaponRequest{Access: keeper, WeaponId: w.GetId(), HolderNip: nip, Duty: "Patroli"})
	wantRefused(t, "issued twice", err, "out with an officer", a.GetId())
	_, err = permisan.UpdateWeaponStatus(ctx, &sinergiv1.UpdateWeaponStatusRequest{Access: keeper, Id: w.GetId(),
		Status: sinergiv1.WeaponStatus_WEAPON_STATUS_UNDER_REPAIR, Note: "x"})
	wantRefused(t, "to repair while out", err, "return it first")

	_, err = permisan.ReturnWeapon(ctx, &sinergiv1.ReturnWeaponRequest{Access: keeper, WeaponId: w.GetId(), RoundsReturned: 10})
	wantRefused(t, "two rounds unaccounted for", err, "2 of the 12 rounds", "unaccounted for")
	inc, err := permisan.ReportWeaponIncident(ctx, &sinergiv1.ReportWeaponIncidentRequest{Access: keeper, IdempotencyKey: "discharge-" + a.GetId(),
		WeaponId: w.GetId(), Incident: sinergiv1.WeaponIncident_WEAPON_INCIDENT_DISCHARGE, OccurTime: timestamppb.New(now.Add(-time.Hour)),
		Place: "Pos jaga P2U", Narrative: "Tembakan peringatan saat percobaan pelarian", RoundsDischarged: 2})
	if err != nil {
		t.Fatal(err)
	}
	if inc.GetWeapon().GetCurrentAssignment().GetRoundsDischarged() != 2 {
		t.Fatalf("discharge against the assignment: %v", inc.GetWeapon().GetCurrentAssignment())
	}
	_, err = permisan.ReturnWeapon(ctx, &sinergiv1.ReturnWeaponRequest{Access: keeper, WeaponId: w.GetId(), RoundsReturned: 11})
	wantRefused(t, "more rounds back than left", err, "cannot come back")
	ret, err := permisan.ReturnWeapon(ctx, &sinergiv1.ReturnWeaponRequest{Access: keeper, WeaponId: w.GetId(), RoundsReturned: 10, Note: "Baik"})
	if err != nil || ret.GetAssignment().GetReturnTime() == nil || ret.GetAssignment().GetRoundsReturned() != 10 || ret.GetAssignment().GetId() != a.GetId() {
		t.Fatalf("returned: %v %v", ret, err)
	}
	if in, out := stock(); in != 18 || out != 0 {
		t.Fatalf("stock after the return: %d in, %d out; want 18, 0", in, out)
	}
	_, err = permisan.ReturnWeapon(ctx, &sinergiv1.ReturnWeaponRequest{Access: keeper, WeaponId: w.GetId()})
	wantRefused(t, "returned twice", err, "in the armoury")
	got, err = permisan.GetWeapon(ctx, &sinergiv1.GetWeaponRequest{Access: keeper, Id: w.GetId()})
	if err != nil || got.GetWeapon().GetCurrentAssignment() != nil {
		t.Fatalf("back in the armoury: %v %v", got, err)
	}
	list, err := permisan.ListAssignments(ctx, &sinergiv1.ListAssignmentsRequest{Access: keeper, WeaponId: w.GetId()})
	if err != nil || len(list.GetAssignments()) != 1 {
		t.Fatalf("assignments: %v %v", list, err)
	}
	// Ammunition never goes below zero.
	_, err = permisan.RecordAmmunition(ctx, &sinergiv1.RecordAmmunitionRequest{Access: keeper, Calibre: calibre,
		Change: sinergiv1.AmmunitionChange_AMMUNITION_CHANGE_EXPENDED, Rounds: 19, Note: "Latihan"})
	wantRefused(t, "more rounds expended than held", err, "holds 18 rounds")
	counted, err := permisan.RecordAmmunition(ctx, &sinergiv1.RecordAmmunitionRequest{Access: keeper, Calibre: calibre,
		Change: sinergiv1.AmmunitionChange_AMMUNITION_CHANGE_COUNTED, Rounds: 17, Note: "Stock opname"})
	if err != nil || counted.GetStock().GetRounds() != 17 {
		t.Fatalf("counted: %v %v", counted, err)
	}
}

// TestIssueRefusals: each missing licence is named; another facility's
// weapon reads as none.
func TestIssueRefusals(t *testing.T) {
	env, now := start(t, db)
	ctx := context.Background()
	metro := as(t, env, "lapas-metro")
	polda := as(t, env, "polda-lampung")
	issue := func(w *sinergiv1.Weapon, nip string) error {
		_, err := metro.IssueWeapon(ctx, &sinergiv1.IssueWeaponRequest{Access: keeper, WeaponId: w.GetId(), HolderNip: nip, Duty: "Pos jaga"})
		return err
	}
	// An officer licensed for electric-shock devices.
	nip := freshNIP()
	env.Clock.Set(now.AddDate(0, -2, 0))
	lapsing := approve(t, polda, applyHolder(t, metro, nip, sinergiv1.WeaponCategory_WEAPON_CATEGORY_ELECTRIC_SHOCK), time.Time{}, now.AddDate(0, 0, -1))
	env.Clock.Set(now)

	unlicensed := register(t, metro, sinergiv1.WeaponCategory_WEAPON_CATEGORY_ELECTRIC_SHOCK)
	wantRefused(t, "a weapon never licensed", issue(unlicensed, nip), "no valid ownership licence", "none was applied for")
	pending := applyOwnership(t, metro, unlicensed)
	wantRefused(t, "a weapon whose licence is pending", issue(unlicensed, nip), "no valid ownership licence", pending.GetId(), "not decided")

	// An ownership licence that expired.
	env.Clock.Set(now.AddDate(0, -3, 0))
	expiredWeapon := register(t, metro, sinergiv1.WeaponCategory_WEAPON_CATEGORY_ELECTRIC_SHOCK)
	exp := approve(t, polda, applyOwnership(t, metro, expiredWeapon), time.Time{}, now.AddDate(0, 0, -2))
	env.Clock.Set(now)
	wantRefused(t, "an expired ownership licence", issue(expiredWeapon, nip), "no valid ownership licence", exp.GetNumber(), "expired")

	// A licensed weapon, but the officer's holder licence lapsed yesterday.
	ok := register(t, metro, sinergiv1.WeaponCategory_WEAPON_CATEGORY_ELECTRIC_SHOCK)
	approve(t, polda, applyOwnership(t, metro, ok), time.Time{}, now.AddDate(1, 0, 0))
	err := issue(ok, nip)
	wantRefused(t, "a lapsed holder licence", err, "no valid holder licence", "electric-shock device", lapsing.GetNumber(), "expired")
	// An officer never licensed at all; one licensed for another category.
	wantRefused(t, "an officer never licensed", issue(ok, freshNIP()), "no valid holder licence", "none was applied for")
	other := freshNIP()
	approve(t, polda, applyHolder(t, metro, other, sinergiv1.WeaponCategory_WEAPON_CATEGORY_GAS), time.Time{}, now.AddDate(1, 0, 0))
	wantRefused(t, "a holder licensed for gas guns only", issue(ok, other), "no valid holder licence", "electric-shock device")
	// Renewed, the lapsed licence allows the issue again.
	if _, err := polda.RenewLicence(ctx, &sinergiv1.RenewLicenceRequest{Access: supervisor, Id: lapsing.GetId(), ExpireTime: timestamppb.New(now.AddDate(1, 0, 0))}); err != nil {
		t.Fatal(err)
	}
	if err := issue(ok, nip); err != nil {
		t.Fatalf("after the renewal: %v", err)
	}
	// A revoked ownership licence stops the next issue.
	if _, err := metro.ReturnWeapon(ctx, &sinergiv1.ReturnWeaponRequest{Access: keeper, WeaponId: ok.GetId()}); err != nil {
		t.Fatal(err)
	}
	cur, err := metro.GetWeapon(ctx, &sinergiv1.GetWeaponRequest{Access: keeper, Id: ok.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := polda.RevokeLicence(ctx, &sinergiv1.RevokeLicenceRequest{Access: supervisor, Id: cur.GetWeapon().GetOwnershipLicence().GetId(), Reason: "Pelanggaran penyimpanan"}); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "a revoked ownership licence", issue(ok, nip), "no valid ownership licence", "revoked")

	// Another facility's weapon, and one under repair.
	foreign, foreignNIP := licensed(t, env, "lapas-cipinang", "polda-metro-jaya", sinergiv1.WeaponCategory_WEAPON_CATEGORY_GAS, now)
	wantCode(t, "another facility's weapon", issue(foreign, foreignNIP), codes.NotFound)
	_, err = as(t, env, "polda-metro-jaya").IssueWeapon(ctx, &sinergiv1.IssueWeaponRequest{Access: supervisor, WeaponId: foreign.GetId(), HolderNip: foreignNIP, Duty: "x"})
	wantCode(t, "the police issuing", err, codes.PermissionDenied)
	cipinang := as(t, env, "lapas-cipinang")
	if _, err := cipinang.UpdateWeaponStatus(ctx, &sinergiv1.UpdateWeaponStatusRequest{Access: keeper, Id: foreign.GetId(),
		Status: sinergiv1.WeaponStatus_WEAPON_STATUS_UNDER_REPAIR, Note: "Servis"}); err != nil {
		t.Fatal(err)
	}
	_, err = cipinang.IssueWeapon(ctx, &sinergiv1.IssueWeaponRequest{Access: keeper, WeaponId: foreign.GetId(), HolderNip: foreignNIP, Duty: "x"})
	wantRefused(t, "a weapon under repair", err, "under repair")
	_, err = cipinang.IssueWeapon(ctx, &sinergiv1.IssueWeaponRequest{Access: keeper, WeaponId: foreign.GetId(), HolderNip: "123", Duty: "x"})
	wantCode(t, "a malformed NIP", err, codes.InvalidArgument, "holder_nip")
}
