package firearms

import (
	"cmp"
	"slices"
	"time"

	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Stats counts weapons (by their facility's region, facility, category,
// status and ownership licence state) and licences (by region, facility,
// kind and state), as they stand at now.
func Stats(dir *directory.Snapshot, weapons []store.WeaponStatRow, licences []*sinergiv1.FirearmLicence, now time.Time) *sinergiv1.FirearmsStatsResponse {
	region := func(code string) string {
		if in := dir.Institution(code); in != nil {
			return in.GetRegionCode()
		}
		return ""
	}
	type wkey struct {
		facility string
		category sinergiv1.WeaponCategory
		status   sinergiv1.WeaponStatus
		state    sinergiv1.LicenceState
	}
	type lkey struct {
		facility string
		kind     sinergiv1.LicenceKind
		state    sinergiv1.LicenceState
	}
	wc, lc := map[wkey]int64{}, map[lkey]int64{}
	for _, w := range weapons {
		_, state := Current(w.Licences, now)
		wc[wkey{w.Facility, w.Category, w.Status, state}]++
	}
	for _, l := range licences {
		lc[lkey{l.GetFacilityCode(), l.GetKind(), StateAt(l, now)}]++
	}
	out := &sinergiv1.FirearmsStatsResponse{TotalWeapons: int64(len(weapons))}
	for k, n := range wc {
		out.Weapons = append(out.Weapons, &sinergiv1.WeaponCount{RegionCode: region(k.facility), FacilityCode: k.facility,
			Category: k.category, Status: k.status, LicenceState: k.state, Count: n})
	}
	for k, n := range lc {
		out.Licences = append(out.Licences, &sinergiv1.LicenceCount{RegionCode: region(k.facility), FacilityCode: k.facility,
			Kind: k.kind, State: k.state, Count: n})
	}
	slices.SortFunc(out.Weapons, func(a, b *sinergiv1.WeaponCount) int {
		return cmp.Or(cmp.Compare(a.GetRegionCode(), b.GetRegionCode()), cmp.Compare(a.GetFacilityCode(), b.GetFacilityCode()),
			cmp.Compare(a.GetCategory(), b.GetCategory()), cmp.Compare(a.GetStatus(), b.GetStatus()), cmp.Compare(a.GetLicenceState(), b.GetLicenceState()))
	})
	slices.SortFunc(out.Licences, func(a, b *sinergiv1.LicenceCount) int {
		return cmp.Or(cmp.Compare(a.GetRegionCode(), b.GetRegionCode()), cmp.Compare(a.GetFacilityCode(), b.GetFacilityCode()),
			cmp.Compare(a.GetKind(), b.GetKind()), cmp.Compare(a.GetState(), b.GetState()))
	})
	return out
}
