package firearms_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestStats: counts by region, facility, category, status and licence
// state, of what the caller may see only.
func TestStats(t *testing.T) {
	d := pgtestFresh(t)
	env, now := start(t, d)
	ctx := context.Background()
	metro, cipinang := as(t, env, "lapas-metro"), as(t, env, "lapas-cipinang")
	a := register(t, metro, sinergiv1.WeaponCategory_WEAPON_CATEGORY_GAS)
	register(t, metro, sinergiv1.WeaponCategory_WEAPON_CATEGORY_GAS)
	approve(t, as(t, env, "polda-lampung"), applyOwnership(t, metro, a), time.Time{}, now.AddDate(0, 0, 40))
	register(t, cipinang, sinergiv1.WeaponCategory_WEAPON_CATEGORY_FIREARM)

	gas, inService := sinergiv1.WeaponCategory_WEAPON_CATEGORY_GAS, sinergiv1.WeaponStatus_WEAPON_STATUS_IN_SERVICE
	metroWeapons := []*sinergiv1.WeaponCount{
		{RegionCode: "18.72", FacilityCode: "lapas-metro", Category: gas, Status: inService, LicenceState: sinergiv1.LicenceState_LICENCE_STATE_NONE, Count: 1},
		{RegionCode: "18.72", FacilityCode: "lapas-metro", Category: gas, Status: inService, LicenceState: sinergiv1.LicenceState_LICENCE_STATE_EXPIRING, Count: 1},
	}
	metroLicences := []*sinergiv1.LicenceCount{{RegionCode: "18.72", FacilityCode: "lapas-metro", Kind: sinergiv1.LicenceKind_LICENCE_KIND_OWNERSHIP,
		State: sinergiv1.LicenceState_LICENCE_STATE_EXPIRING, Count: 1}}
	for _, tc := range []struct {
		code string
		req  *sinergiv1.FirearmsStatsRequest
		want *sinergiv1.FirearmsStatsResponse
	}{
		{"polres-metro", &sinergiv1.FirearmsStatsRequest{}, &sinergiv1.FirearmsStatsResponse{Weapons: metroWeapons, Licences: metroLicences, TotalWeapons: 2}},
		{"lapas-metro", &sinergiv1.FirearmsStatsRequest{}, &sinergiv1.FirearmsStatsResponse{Weapons: metroWeapons, Licences: metroLicences, TotalWeapons: 2}},
		{"mabes-polri", &sinergiv1.FirearmsStatsRequest{RegionPrefix: "31"}, &sinergiv1.FirearmsStatsResponse{TotalWeapons: 1, Weapons: []*sinergiv1.WeaponCount{
			{RegionCode: "31.75", FacilityCode: "lapas-cipinang", Category: sinergiv1.WeaponCategory_WEAPON_CATEGORY_FIREARM, Status: inService,
				LicenceState: sinergiv1.LicenceState_LICENCE_STATE_NONE, Count: 1}}}},
		{"kemenimipas", &sinergiv1.FirearmsStatsRequest{FacilityCode: "lapas-metro"}, &sinergiv1.FirearmsStatsResponse{Weapons: metroWeapons, Licences: metroLicences, TotalWeapons: 2}},
		// Outside the region: nothing, as if the register were empty.
		{"polda-jawa-tengah", &sinergiv1.FirearmsStatsRequest{FacilityCode: "lapas-metro"}, &sinergiv1.FirearmsStatsResponse{}},
		{"lapas-cipinang", &sinergiv1.FirearmsStatsRequest{FacilityCode: "lapas-metro"}, &sinergiv1.FirearmsStatsResponse{}},
	} {
		got, err := as(t, env, tc.code).FirearmsStats(ctx, tc.req)
		if err != nil {
			t.Fatalf("%s: %v", tc.code, err)
		}
		if diff := cmp.Diff(tc.want, got, protocmp.Transform()); diff != "" {
			t.Errorf("%s %v (-want +got):\n%s", tc.code, tc.req, diff)
		}
	}
}
