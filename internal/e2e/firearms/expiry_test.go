package firearms_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/firearms"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestExpiryWarnings: licences expiring within 90, 30 and 7 days warn both
// the facility and the licensing unit, each warning once whoever runs the
// pass and however often, with an audit record of the server's act; a
// licence approved close to its expiry warns once, at the tightest
// threshold; at the expiry it warns again, is listed as expired and lapses;
// a renewal starts the warnings again.
func TestExpiryWarnings(t *testing.T) {
	d := pgtestFresh(t)
	env, now := start(t, d)
	ctx := context.Background()
	cipinang, polda := as(t, env, "lapas-cipinang"), as(t, env, "polda-metro-jaya")
	facilityWatch, poldaWatch := openWatch(t, cipinang, keeper, ""), openWatch(t, polda, supervisor, "")
	w := register(t, cipinang, sinergiv1.WeaponCategory_WEAPON_CATEGORY_GAS)
	l := approve(t, polda, applyOwnership(t, cipinang, w), time.Time{}, now.AddDate(0, 0, 20))
	nip := freshNIP()
	h := approve(t, polda, applyHolder(t, cipinang, nip, sinergiv1.WeaponCategory_WEAPON_CATEGORY_GAS), time.Time{}, now.AddDate(0, 0, 100))

	// What was warned of a licence, in order, whoever gave the warnings:
	// the server's own worker runs beside the test's passes.
	given := func(id string) []int32 {
		t.Helper()
		r, err := polda.ListFirearmEvents(ctx, &sinergiv1.ListFirearmEventsRequest{Access: supervisor, LicenceId: id, PageSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		var out []int32
		for i := len(r.GetEvents()) - 1; i >= 0; i-- {
			switch ev := r.GetEvents()[i]; ev.GetKind() {
			case sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_LICENCE_EXPIRING, sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_LICENCE_EXPIRED:
				out = append(out, ev.GetDaysLeft())
			}
		}
		return out
	}
	wantGiven := func(id string, want ...int32) {
		t.Helper()
		if got := given(id); !slices.Equal(got, want) {
			t.Fatalf("warnings of %s: %v, want %v", id, got, want)
		}
	}
	warned := func(watch *watch, id string, days int32) {
		t.Helper()
		kind := sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_LICENCE_EXPIRING
		if days == 0 {
			kind = sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_LICENCE_EXPIRED
		}
		ev, _ := watch.until(kind, id)
		if ev.GetDaysLeft() != days || ev.GetActorCode() != "" || ev.GetExpireTime() == nil {
			t.Fatalf("warning of %s: %v, want %d days", id, ev, days)
		}
	}
	// Twenty days before: the 30-day warning only, to both sides.
	tick(t, env)
	warned(facilityWatch, l.GetId(), 30)
	warned(poldaWatch, l.GetId(), 30)
	tick(t, env)
	wantGiven(l.GetId(), 30)
	wantGiven(h.GetId())
	list, err := cipinang.ListLicences(ctx, &sinergiv1.ListLicencesRequest{Access: keeper, State: sinergiv1.LicenceState_LICENCE_STATE_EXPIRING})
	if err != nil || len(list.GetLicences()) != 1 || list.GetLicences()[0].GetId() != l.GetId() {
		t.Fatalf("expiring licences: %v %v", list, err)
	}

	// Thirteen days on: 7 days left (and 87 for the holder licence).
	env.Clock.Advance(13 * 24 * time.Hour)
	// Passes at once, as several server processes might: each warning once.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := expirer(env).Tick(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	warned(facilityWatch, l.GetId(), 7)
	warned(poldaWatch, h.GetId(), 90)
	wantGiven(l.GetId(), 30, 7)
	wantGiven(h.GetId(), 90)

	// The expiry: the weapon's licence lapses, and it cannot be issued.
	env.Clock.Advance(8 * 24 * time.Hour)
	tick(t, env)
	warned(poldaWatch, l.GetId(), 0)
	expired, err := polda.ListLicences(ctx, &sinergiv1.ListLicencesRequest{Access: supervisor, FacilityCode: "lapas-cipinang",
		State: sinergiv1.LicenceState_LICENCE_STATE_EXPIRED})
	if err != nil || len(expired.GetLicences()) != 1 || expired.GetLicences()[0].GetId() != l.GetId() {
		t.Fatalf("expired licences: %v %v", expired, err)
	}
	_, err = cipinang.IssueWeapon(ctx, &sinergiv1.IssueWeaponRequest{Access: keeper, WeaponId: w.GetId(), HolderNip: nip, Duty: "Pos jaga"})
	wantRefused(t, "a lapsed ownership licence", err, "no valid ownership licence", "expired")
	tick(t, env)
	wantGiven(l.GetId(), 30, 7, 0)

	// Renewed for 60 days: the 90-day warning comes at once.
	if _, err := polda.RenewLicence(ctx, &sinergiv1.RenewLicenceRequest{Access: supervisor, Id: l.GetId(),
		ExpireTime: timestamppb.New(env.Clock.Now().AddDate(0, 0, 60))}); err != nil {
		t.Fatal(err)
	}
	tick(t, env)
	warned(facilityWatch, l.GetId(), 90)
	wantGiven(l.GetId(), 30, 7, 0, 90)
	if _, err := cipinang.IssueWeapon(ctx, &sinergiv1.IssueWeaponRequest{Access: keeper, WeaponId: w.GetId(), HolderNip: nip, Duty: "Pos jaga"}); err != nil {
		t.Fatalf("issue after the renewal: %v", err)
	}

	// Each warning is an audit record of the server's act, naming the
	// licence and its weapon.
	env.WaitIntegrated(t)
	rows, err := env.Owner.Pool.Query(ctx, `SELECT subjects, reason FROM audit_records WHERE method = $1 AND $2 = ANY(subjects) ORDER BY id`,
		firearms.ExpiryMethod, "licence/"+l.GetId())
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for rows.Next() {
		var subjects []string
		var reason string
		if err := rows.Scan(&subjects, &reason); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(subjects, "weapon/"+w.GetId()) {
			t.Errorf("warning record without its weapon: %v", subjects)
		}
		reasons = append(reasons, reason)
	}
	if len(reasons) != 4 {
		t.Fatalf("audit records of the licence's warnings: %v, want 4 (30, 7, 0, 90 days)", reasons)
	}
}

// TestExpiryWorker: the server's own worker, not a test's pass, warns both
// sides of a licence expiring within 7 days.
func TestExpiryWorker(t *testing.T) {
	env, now := start(t, db)
	metro, polda := as(t, env, "lapas-metro"), as(t, env, "polda-lampung")
	facilityWatch, poldaWatch := openWatch(t, metro, keeper, ""), openWatch(t, polda, supervisor, "")
	w := register(t, metro, sinergiv1.WeaponCategory_WEAPON_CATEGORY_ELECTRIC_SHOCK)
	l := approve(t, polda, applyOwnership(t, metro, w), time.Time{}, now.AddDate(0, 0, 5))
	for _, watch := range []*watch{facilityWatch, poldaWatch} {
		ev, _ := watch.until(sinergiv1.FirearmEventKind_FIREARM_EVENT_KIND_LICENCE_EXPIRING, l.GetId())
		if ev.GetDaysLeft() != 7 || ev.GetWeaponId() != w.GetId() {
			t.Fatalf("warning: %v", ev)
		}
	}
}
