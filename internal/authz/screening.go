package authz

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/sinergi-id/sinergi/internal/authz/restrict"
	"github.com/sinergi-id/sinergi/internal/directory"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// A screening list entry's row is admitted by its owner: the restrictions
// of this file admit rows whose owning unit (the column the store gives as
// the facility of restrict.Columns) is one they list. A referral's row is
// admitted by its facility, under ReferralReach.

// ScreeningOwners are the police units whose screening lists apply at one
// facility at one moment: those an agreement in force for visitor
// screening joins with it, wherever they are (a unit's wanted person is
// wanted at every gate its agreements reach, as its watch list follows a
// person anywhere), active and not the facility's own side. They are the
// same units whose ReferralReach includes the facility.
type ScreeningOwners struct {
	facility    string
	codes       []string // sorted
	agreements  map[string][]string
	all         []string
	restriction *restrict.Restriction
}

// Owners lists the units, sorted.
func (o *ScreeningOwners) Owners() []string { return o.codes }

// Restriction admits the entries of the units.
func (o *ScreeningOwners) Restriction() *restrict.Restriction { return o.restriction }

// Agreements lists the agreements under which owner's list applies.
func (o *ScreeningOwners) Agreements(owner string) []string { return o.agreements[owner] }

// AllAgreements lists the agreements under which any of the lists apply:
// what a screening at the facility consults, whatever it finds.
func (o *ScreeningOwners) AllAgreements() []string { return o.all }

type ownersKey struct{ facility string }

type ownersMemo struct {
	mu      sync.Mutex
	windows []ownersWindow
}

type ownersWindow struct {
	lo, hi time.Time
	owners *ScreeningOwners
}

// ComputeScreeningOwners is the units whose lists apply at facility at t.
// Every screening asks it, so it is kept with the directory snapshot for
// as long as no agreement changes standing (as ComputeReach is).
func ComputeScreeningOwners(dir *directory.Snapshot, facility *sinergiv1.Institution, t time.Time) *ScreeningOwners {
	memo := dir.Memo(ownersKey{facility.GetCode()}, func() any { return &ownersMemo{} }).(*ownersMemo)
	memo.mu.Lock()
	defer memo.mu.Unlock()
	for _, w := range memo.windows {
		if !t.Before(w.lo) && (w.hi.IsZero() || t.Before(w.hi)) {
			return w.owners
		}
	}
	o := &ScreeningOwners{facility: facility.GetCode(), agreements: map[string][]string{}}
	if facility.GetStatus() == sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE {
		for _, in := range dir.Institutions() {
			if CallerOf(in.GetKind()) != PoliceUnit || in.GetStatus() != sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE {
				continue
			}
			g, ok := ReferralReach(dir, in, t).Grant(facility.GetCode())
			if !ok || len(g.Agreements) == 0 {
				continue
			}
			o.codes = append(o.codes, in.GetCode())
			o.agreements[in.GetCode()] = g.Agreements
			for _, id := range g.Agreements {
				if !slices.Contains(o.all, id) {
					o.all = append(o.all, id)
				}
			}
		}
	}
	sort.Strings(o.codes)
	sort.Strings(o.all)
	o.restriction = restrict.New(facility.GetCode(), restrict.Clause{Facilities: o.codes, Secret: true, Children: true})
	lo, hi := dir.TermWindow(t)
	if len(memo.windows) < maxWindows {
		memo.windows = append(memo.windows, ownersWindow{lo: lo, hi: hi, owners: o})
	}
	return o
}

// ReferralReach is the reach by which a police unit is told of the
// referrals of its list, and reads them: every facility an agreement in
// force for visitor screening joins it with, beyond its jurisdiction,
// never beyond the agreements.
func ReferralReach(dir *directory.Snapshot, unit *sinergiv1.Institution, t time.Time) *Reach {
	return ComputeReach(dir, unit, sinergiv1.Scope_SCOPE_VISITOR_SCREENING, t, ReachOptions{IgnoreJurisdiction: true})
}

// OwnScreeningList is the restriction of a police unit reading its own
// list: the entries it owns.
func OwnScreeningList(unit string) *restrict.Restriction {
	return restrict.New(unit, restrict.Clause{Facilities: []string{unit}, Secret: true, Children: true})
}
