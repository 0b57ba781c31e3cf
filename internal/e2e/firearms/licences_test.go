package firearms_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/firearms"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestLicensingUnitDecides: the facility applies; the Polda of its province
// decides security equipment, Mabes Polri firearms; nobody else does: a
// Polres is refused by kind, the other level by the rule, a Polda of
// another province cannot even find the licence.
func TestLicensingUnitDecides(t *testing.T) {
	env, now := start(t, db)
	ctx := context.Background()
	permisan := as(t, env, "lapas-permisan")
	gun := register(t, permisan, sinergiv1.WeaponCategory_WEAPON_CATEGORY_RUBBER_BULLET)
	app := applyOwnership(t, permisan, gun)
	if app.GetLicensingCode() != "polda-jawa-tengah" || app.GetState() != sinergiv1.LicenceState_LICENCE_STATE_PENDING ||
		app.GetWeaponId() != gun.GetId() || app.GetCategory() != gun.GetCategory() || app.GetApplyOperatorId() != keeper.GetOperatorId() {
		t.Fatalf("application: %v", app)
	}
	_, err := permisan.ApplyForLicence(ctx, &sinergiv1.ApplyForLicenceRequest{Access: keeper, Kind: sinergiv1.LicenceKind_LICENCE_KIND_OWNERSHIP, WeaponId: gun.GetId()})
	wantRefused(t, "a second application", err, "pending already", app.GetId())

	approveReq := func(id string) *sinergiv1.ApproveLicenceRequest {
		return &sinergiv1.ApproveLicenceRequest{Access: supervisor, Id: id, Number: "SI/900/XII/2026/" + strings.ToUpper(id[:8]),
			ExpireTime: timestamppb.New(now.AddDate(2, 0, 0))}
	}
	_, err = as(t, env, "polres-cilacap").ApproveLicence(ctx, approveReq(app.GetId()))
	wantCode(t, "a Polres approving", err, codes.PermissionDenied)
	_, err = as(t, env, "mabes-polri").ApproveLicence(ctx, approveReq(app.GetId()))
	wantRefused(t, "Mabes approving the Polda's licence", err, "polda-jawa-tengah")
	_, err = as(t, env, "polda-lampung").ApproveLicence(ctx, approveReq(app.GetId()))
	wantCode(t, "a Polda of another province", err, codes.NotFound)
	_, err = as(t, env, "polda-lampung").GetLicence(ctx, &sinergiv1.GetLicenceRequest{Access: supervisor, Id: app.GetId()})
	wantCode(t, "a Polda of another province reading it", err, codes.NotFound)
	_, err = as(t, env, "lapas-permisan").ApproveLicence(ctx, approveReq(app.GetId()))
	wantCode(t, "the facility approving its own", err, codes.PermissionDenied)

	polda := as(t, env, "polda-jawa-tengah")
	ok, err := polda.ApproveLicence(ctx, approveReq(app.GetId()))
	if err != nil {
		t.Fatal(err)
	}
	l := ok.GetLicence()
	if l.GetState() != sinergiv1.LicenceState_LICENCE_STATE_VALID || l.GetNumber() == "" || l.GetDecideOperatorId() != supervisor.GetOperatorId() ||
		!l.GetEffectiveTime().AsTime().Equal(now) {
		t.Fatalf("approved: %v", l)
	}
	_, err = polda.ApproveLicence(ctx, approveReq(app.GetId()))
	wantRefused(t, "approved twice", err, "only a pending application")
	w, err := permisan.GetWeapon(ctx, &sinergiv1.GetWeaponRequest{Access: keeper, Id: gun.GetId()})
	if err != nil || w.GetWeapon().GetLicenceState() != sinergiv1.LicenceState_LICENCE_STATE_VALID || w.GetWeapon().GetOwnershipLicence().GetId() != l.GetId() {
		t.Fatalf("the weapon after approval: %v %v", w, err)
	}

	// The same number again at the same unit is refused.
	other := applyOwnership(t, permisan, register(t, permisan, sinergiv1.WeaponCategory_WEAPON_CATEGORY_GAS))
	dup := approveReq(other.GetId())
	dup.Number = l.GetNumber()
	_, err = polda.ApproveLicence(ctx, dup)
	wantCode(t, "a number used twice", err, codes.AlreadyExists)

	// A firearm goes to Mabes.
	pistol := register(t, permisan, sinergiv1.WeaponCategory_WEAPON_CATEGORY_FIREARM)
	papp := applyOwnership(t, permisan, pistol)
	if papp.GetLicensingCode() != "mabes-polri" {
		t.Fatalf("a firearm's licensing unit: %s", papp.GetLicensingCode())
	}
	_, err = polda.ApproveLicence(ctx, approveReq(papp.GetId()))
	wantRefused(t, "the Polda approving a firearm", err, "mabes-polri")
	refused, err := as(t, env, "mabes-polri").RefuseLicence(ctx, &sinergiv1.RefuseLicenceRequest{Access: supervisor, Id: papp.GetId(), Reason: "Surat rekomendasi belum lengkap"})
	if err != nil || refused.GetLicence().GetState() != sinergiv1.LicenceState_LICENCE_STATE_REFUSED || refused.GetLicence().GetReason() == "" {
		t.Fatalf("refused: %v %v", refused, err)
	}
	// Refused, the facility may apply again.
	applyOwnership(t, permisan, pistol)

	// Renewal and revocation.
	_, err = polda.RenewLicence(ctx, &sinergiv1.RenewLicenceRequest{Access: supervisor, Id: l.GetId(), ExpireTime: timestamppb.New(now.AddDate(1, 0, 0))})
	wantRefused(t, "a renewal that shortens", err, "must end later")
	_, err = polda.RenewLicence(ctx, &sinergiv1.RenewLicenceRequest{Access: supervisor, Id: l.GetId(), ExpireTime: timestamppb.New(now.AddDate(9, 0, 0))})
	wantRefused(t, "a renewal past five years", err, "5 years")
	ren, err := polda.RenewLicence(ctx, &sinergiv1.RenewLicenceRequest{Access: supervisor, Id: l.GetId(), ExpireTime: timestamppb.New(now.AddDate(3, 0, 0)), Conditions: "Diperpanjang"})
	if err != nil || ren.GetLicence().GetRenewals() != 1 || !ren.GetLicence().GetExpireTime().AsTime().Equal(now.AddDate(3, 0, 0)) || ren.GetLicence().GetNumber() != l.GetNumber() {
		t.Fatalf("renewed: %v %v", ren, err)
	}
	rev, err := polda.RevokeLicence(ctx, &sinergiv1.RevokeLicenceRequest{Access: supervisor, Id: l.GetId(), Reason: "Penyimpanan tidak memenuhi syarat"})
	if err != nil || rev.GetLicence().GetState() != sinergiv1.LicenceState_LICENCE_STATE_REVOKED || rev.GetLicence().GetRevokeTime() == nil {
		t.Fatalf("revoked: %v %v", rev, err)
	}
	_, err = polda.RenewLicence(ctx, &sinergiv1.RenewLicenceRequest{Access: supervisor, Id: l.GetId(), ExpireTime: timestamppb.New(now.AddDate(4, 0, 0))})
	wantRefused(t, "renewing a revoked licence", err, "only an approved licence")
	_, err = polda.RevokeLicence(ctx, &sinergiv1.RevokeLicenceRequest{Access: supervisor, Id: l.GetId(), Reason: "lagi"})
	wantRefused(t, "revoked twice", err, "revoked")

	// The licence's whole history, told to both sides.
	want := []sinergiv1.FirearmEventKind{sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_LICENCE_APPLIED, sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_LICENCE_APPROVED,
		sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_LICENCE_RENEWED, sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_LICENCE_REVOKED}
	if got := events(t, permisan, keeper, "", l.GetId()); !slices.Equal(got, want) {
		t.Errorf("licence history as the facility sees it: %v, want %v", got, want)
	}
	if got := events(t, polda, supervisor, "", l.GetId()); !slices.Equal(got, want) {
		t.Errorf("licence history as the Polda sees it: %v, want %v", got, want)
	}
}

// TestHolderLicence: a holder licence names an officer by NIP and a
// category, decided by the unit that licenses that category.
func TestHolderLicence(t *testing.T) {
	env, now := start(t, db)
	ctx := context.Background()
	metro := as(t, env, "lapas-metro")
	nip := freshNIP()
	l := applyHolder(t, metro, nip, sinergiv1.WeaponCategory_WEAPON_CATEGORY_ELECTRIC_SHOCK)
	if l.GetLicensingCode() != "polda-lampung" || l.GetHolderNip() != nip || l.GetHolderName() != holderName || l.GetKind() != sinergiv1.LicenceKind_LICENCE_KIND_HOLDER {
		t.Fatalf("holder application: %v", l)
	}
	_, err := metro.ApplyForLicence(ctx, &sinergiv1.ApplyForLicenceRequest{Access: keeper, Kind: sinergiv1.LicenceKind_LICENCE_KIND_HOLDER,
		HolderNip: nip, HolderName: holderName, Category: sinergiv1.WeaponCategory_WEAPON_CATEGORY_ELECTRIC_SHOCK})
	wantRefused(t, "the same officer and category pending twice", err, "pending already")
	for _, tc := range []struct {
		name  string
		req   *sinergiv1.ApplyForLicenceRequest
		field string
	}{
		{"no NIP", &sinergiv1.ApplyForLicenceRequest{Access: keeper, Kind: sinergiv1.LicenceKind_LICENCE_KIND_HOLDER, HolderName: "X", Category: 1}, "holder_nip"},
		{"an NRP", &sinergiv1.ApplyForLicenceRequest{Access: keeper, Kind: sinergiv1.LicenceKind_LICENCE_KIND_HOLDER, HolderNip: "85051234", HolderName: "X", Category: 1}, "holder_nip"},
		{"no name", &sinergiv1.ApplyForLicenceRequest{Access: keeper, Kind: sinergiv1.LicenceKind_LICENCE_KIND_HOLDER, HolderNip: freshNIP(), Category: 1}, "holder_name"},
		{"no category", &sinergiv1.ApplyForLicenceRequest{Access: keeper, Kind: sinergiv1.LicenceKind_LICENCE_KIND_HOLDER, HolderNip: freshNIP(), HolderName: "X"}, "category"},
		{"a weapon too", &sinergiv1.ApplyForLicenceRequest{Access: keeper, Kind: sinergiv1.LicenceKind_LICENCE_KIND_HOLDER, HolderNip: freshNIP(), HolderName: "X", Category: 1,
			WeaponId: "01900000-0000-7000-8000-000000000000"}, "weapon_id"},
		{"no kind", &sinergiv1.ApplyForLicenceRequest{Access: keeper}, "kind"},
		{"ownership without weapon", &sinergiv1.ApplyForLicenceRequest{Access: keeper, Kind: sinergiv1.LicenceKind_LICENCE_KIND_OWNERSHIP}, "weapon_id"},
	} {
		_, err := metro.ApplyForLicence(ctx, tc.req)
		wantCode(t, tc.name, err, codes.InvalidArgument, tc.field)
	}
	// Another facility's weapon reads as none.
	foreign := register(t, as(t, env, "lapas-cipinang"), sinergiv1.WeaponCategory_WEAPON_CATEGORY_GAS)
	_, err = metro.ApplyForLicence(ctx, &sinergiv1.ApplyForLicenceRequest{Access: keeper, Kind: sinergiv1.LicenceKind_LICENCE_KIND_OWNERSHIP, WeaponId: foreign.GetId()})
	wantCode(t, "another facility's weapon", err, codes.NotFound)

	approved := approve(t, as(t, env, "polda-lampung"), l, time.Time{}, now.AddDate(1, 0, 0))
	if approved.GetState() != sinergiv1.LicenceState_LICENCE_STATE_VALID {
		t.Fatalf("approved: %v", approved)
	}
	list, err := as(t, env, "polda-lampung").ListLicences(ctx, &sinergiv1.ListLicencesRequest{Access: supervisor, HolderNip: nip})
	if err != nil || len(list.GetLicences()) != 1 || list.GetLicences()[0].GetId() != l.GetId() {
		t.Fatalf("the officer's licences: %v %v", list, err)
	}
}

// TestLicenceStates: listing by state agrees with internal/firearms'
// definition of each state, for licences at every stage, and the expired
// ones are listed.
func TestLicenceStates(t *testing.T) {
	d := pgtestFresh(t)
	env, now := start(t, d)
	ctx := context.Background()
	f, polda := as(t, env, "lapas-cipinang"), as(t, env, "polda-metro-jaya")
	mk := func(effective, expire time.Time) *sinergiv1.FirearmLicence {
		w := register(t, f, sinergiv1.WeaponCategory_WEAPON_CATEGORY_GAS)
		l := applyOwnership(t, f, w)
		if expire.IsZero() {
			return l
		}
		return approve(t, polda, l, effective, expire)
	}
	env.Clock.Set(now.AddDate(0, 0, -200))
	expired := mk(time.Time{}, now.AddDate(0, 0, -10))
	env.Clock.Set(now)
	valid := mk(time.Time{}, now.AddDate(1, 0, 0))
	expiring := mk(time.Time{}, now.AddDate(0, 0, 20))
	// Expiring too, near the window's edge: 89 days to run.
	mk(time.Time{}, now.AddDate(0, 0, 89))
	later := mk(now.AddDate(0, 1, 0), now.AddDate(1, 0, 0))
	pending := mk(time.Time{}, time.Time{})
	refused := mk(time.Time{}, time.Time{})
	if _, err := polda.RefuseLicence(ctx, &sinergiv1.RefuseLicenceRequest{Access: supervisor, Id: refused.GetId(), Reason: "x"}); err != nil {
		t.Fatal(err)
	}
	revoked := mk(time.Time{}, now.AddDate(1, 0, 0))
	if _, err := polda.RevokeLicence(ctx, &sinergiv1.RevokeLicenceRequest{Access: supervisor, Id: revoked.GetId(), Reason: "x"}); err != nil {
		t.Fatal(err)
	}
	want := map[sinergiv1.LicenceState]string{
		sinergiv1.LicenceState_LICENCE_STATE_EXPIRED: expired.GetId(), sinergiv1.LicenceState_LICENCE_STATE_VALID: valid.GetId(),
		sinergiv1.LicenceState_LICENCE_STATE_EXPIRING: expiring.GetId(), sinergiv1.LicenceState_LICENCE_STATE_NOT_YET_VALID: later.GetId(),
		sinergiv1.LicenceState_LICENCE_STATE_PENDING: pending.GetId(), sinergiv1.LicenceState_LICENCE_STATE_REFUSED: refused.GetId(),
		sinergiv1.LicenceState_LICENCE_STATE_REVOKED: revoked.GetId(),
	}
	all, err := f.ListLicences(ctx, &sinergiv1.ListLicencesRequest{Access: keeper, PageSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	for state, id := range want {
		list, err := f.ListLicences(ctx, &sinergiv1.ListLicencesRequest{Access: keeper, State: state, PageSize: 500})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, l := range list.GetLicences() {
			ids = append(ids, l.GetId())
			if l.GetState() != state {
				t.Errorf("listed as %s but shows %s: %v", state, l.GetState(), l)
			}
		}
		if !slices.Contains(ids, id) {
			t.Errorf("state %s: %v lacks %s", state, ids, id)
		}
		// The SQL filter and firearms.StateAt agree on every licence.
		for _, l := range all.GetLicences() {
			if (firearms.StateAt(l, now) == state) != slices.Contains(ids, l.GetId()) {
				t.Errorf("licence %s is %s by StateAt; listed under %s: %v", l.GetId(), firearms.StateAt(l, now), state, slices.Contains(ids, l.GetId()))
			}
		}
	}
	within, err := f.ListLicences(ctx, &sinergiv1.ListLicencesRequest{Access: keeper, ExpiringWithinDays: 30, PageSize: 500})
	// (the one with 89 days to run is not within 30)
	if err != nil || len(within.GetLicences()) != 1 || within.GetLicences()[0].GetId() != expiring.GetId() {
		t.Fatalf("expiring within 30 days: %v %v", within, err)
	}
	// Paging walks every licence once.
	var paged []string
	tok := ""
	for {
		page, err := f.ListLicences(ctx, &sinergiv1.ListLicencesRequest{Access: keeper, PageSize: 2, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range page.GetLicences() {
			paged = append(paged, l.GetId())
		}
		if tok = page.GetNextPageToken(); tok == "" {
			break
		}
	}
	if len(paged) != len(all.GetLicences()) {
		t.Errorf("paged %d licences, listed %d", len(paged), len(all.GetLicences()))
	}
	_, err = polda.ListLicences(ctx, &sinergiv1.ListLicencesRequest{Access: supervisor, PageSize: 2, PageToken: tok + "x"})
	wantCode(t, "a forged page token", err, codes.InvalidArgument, "page_token")
}

// TestConcurrentApplications: applications for one weapon at once give one
// application; the others are refused as pending, never a conflict or an
// internal error.
func TestConcurrentApplications(t *testing.T) {
	env, _ := start(t, db)
	ctx := context.Background()
	f := as(t, env, "lapas-permisan")
	w := register(t, f, sinergiv1.WeaponCategory_WEAPON_CATEGORY_GAS)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := f.ApplyForLicence(ctx, &sinergiv1.ApplyForLicenceRequest{Access: keeper, Kind: sinergiv1.LicenceKind_LICENCE_KIND_OWNERSHIP, WeaponId: w.GetId()})
			errs <- err
		}()
	}
	ok := 0
	for range 8 {
		switch err := <-errs; codeOf(err) {
		case codes.OK:
			ok++
		case codes.FailedPrecondition:
		default:
			t.Errorf("a concurrent application: %v", err)
		}
	}
	list, err := f.ListLicences(ctx, &sinergiv1.ListLicencesRequest{Access: keeper, WeaponId: w.GetId()})
	if ok != 1 || err != nil || len(list.GetLicences()) != 1 {
		t.Fatalf("%d applications accepted, %d listed (%v); want 1", ok, len(list.GetLicences()), err)
	}
}
