package demodata

import (
	"context"
	"testing"
	"time"

	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/devenv"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/firearms"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestFirearms: every demo facility gets its register, with a licence in
// force, one near its expiry and one expired, officers to carry, and an
// inspection with an open finding; loading again adds nothing.
func TestFirearms(t *testing.T) {
	ctx := context.Background()
	if _, err := devenv.SeedDemo(ctx, db.App, devenv.EphemeralKeys(), devenv.DevOperator); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, db.App, store.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	n, err := Firearms(ctx, st, now)
	if err != nil || n != 6 {
		t.Fatalf("filled %d facilities, %v; want 6", n, err)
	}
	d, err := st.LoadDirectory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := directory.NewSnapshot(d)
	for _, f := range FacilitiesOf(d.Institutions) {
		reach := authz.ComputeReaches(dir, dir.Institution(f.Code), now, firearms.Scope).Firearms()
		weapons, err := st.ListWeapons(ctx, reach, store.WeaponFilter{Facility: f.Code, Limit: 10})
		if err != nil || len(weapons) != 3 {
			t.Fatalf("%s: %d weapons, %v", f.Code, len(weapons), err)
		}
		states := map[sinergiv1.LicenceState]int{}
		for _, w := range weapons {
			_, s := firearms.Current(w.Licences, now)
			states[s]++
		}
		if states[sinergiv1.LicenceState_LICENCE_STATE_VALID] != 1 || states[sinergiv1.LicenceState_LICENCE_STATE_EXPIRING] != 1 ||
			states[sinergiv1.LicenceState_LICENCE_STATE_EXPIRED] != 1 {
			t.Errorf("%s: ownership licence states %v", f.Code, states)
		}
		holders, err := st.ListLicences(ctx, reach, store.LicenceFilter{Facility: f.Code, Kind: sinergiv1.LicenceKind_LICENCE_KIND_HOLDER,
			State: sinergiv1.LicenceState_LICENCE_STATE_VALID, Now: now, Window: firearms.ExpiringWindow, Limit: 10})
		if err != nil || len(holders) != 2 {
			t.Errorf("%s: %d holder licences in force, %v", f.Code, len(holders), err)
		}
		insps, err := st.ListInspections(ctx, reach, store.InspectionFilter{Facility: f.Code, OpenFindings: true, Limit: 10})
		if err != nil || len(insps) != 1 || len(insps[0].GetFindings()) != 2 {
			t.Errorf("%s: inspections with open findings %v, %v", f.Code, insps, err)
		}
	}
	if n, err := Firearms(ctx, st, now); err != nil || n != 0 {
		t.Fatalf("loaded again: filled %d, %v; want 0", n, err)
	}
}
