package authz

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sinergi-id/sinergi/internal/directory"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Grant is why a caller may see one facility's data.
type Grant struct {
	// The agreements that cover it (none for a facility's own data).
	Agreements []string
	// Children's identities may be shown: own data, or an agreement
	// covering children's data as well.
	Children bool
	// Own is set for the facility's own data.
	Own bool
}

// Reach is what a caller may see for one scope at one moment. It is shared
// between calls (see ComputeReach): never change it.
type Reach struct {
	Caller *sinergiv1.Institution
	Scope  sinergiv1.Scope
	grants map[string]Grant
	codes  []string
}

// ReachOptions adjust a Reach.
type ReachOptions struct {
	// IgnoreJurisdiction lets an agreement alone decide (watch-list deliveries:
	// a police unit is told about a watched person anywhere).
	IgnoreJurisdiction bool
}

// ComputeReach is the facilities whose scope data caller may see at t: its
// own, and each facility where an agreement in force at t covers the two of
// them for scope and either jurisdiction fits or the agreement names both.
//
// It runs on every data call, over every facility and agreement, so its
// result is kept with the directory snapshot for as long as no agreement
// changes standing (the snapshot's TermWindow around t).
func ComputeReach(dir *directory.Snapshot, caller *sinergiv1.Institution, scope sinergiv1.Scope, t time.Time, opts ReachOptions) *Reach {
	key := reachKeyOf{caller: caller.GetCode(), scope: scope, opts: opts}
	memo := dir.Memo(key, func() any { return &reachMemo{} }).(*reachMemo)
	memo.mu.Lock()
	defer memo.mu.Unlock()
	for _, w := range memo.windows {
		if !t.Before(w.lo) && (w.hi.IsZero() || t.Before(w.hi)) {
			return w.reach
		}
	}
	r := computeReach(dir, caller, scope, t, opts)
	lo, hi := dir.TermWindow(t)
	if len(memo.windows) < maxWindows {
		memo.windows = append(memo.windows, reachWindow{lo: lo, hi: hi, reach: r})
	}
	return r
}

// maxWindows bounds the windows kept per caller and scope (tests and
// backdated checks ask about many moments; calls ask about now).
const maxWindows = 8

type reachKeyOf struct {
	caller string
	scope  sinergiv1.Scope
	opts   ReachOptions
}

type reachMemo struct {
	mu      sync.Mutex
	windows []reachWindow
}

type reachWindow struct {
	lo, hi time.Time
	reach  *Reach
}

func computeReach(dir *directory.Snapshot, caller *sinergiv1.Institution, scope sinergiv1.Scope, t time.Time, opts ReachOptions) *Reach {
	r := &Reach{Caller: caller, Scope: scope, grants: map[string]Grant{}}
	for _, f := range dir.Facilities() {
		if f.GetStatus() != sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE && f.GetCode() != caller.GetCode() {
			continue
		}
		if g, ok := grantFor(dir, caller, f, scope, t, opts); ok {
			r.grants[f.GetCode()] = g
			r.codes = append(r.codes, f.GetCode())
		}
	}
	sort.Strings(r.codes)
	return r
}

func grantFor(dir *directory.Snapshot, caller, f *sinergiv1.Institution, scope sinergiv1.Scope, t time.Time, opts ReachOptions) (Grant, bool) {
	if caller.GetCode() == f.GetCode() || correctionsOversight(caller, f) {
		return Grant{Own: true, Children: true}, true
	}
	usable := func(c directory.Coverage) []string {
		var ids []string
		for _, a := range c.Agreements {
			if opts.IgnoreJurisdiction || directory.InJurisdiction(caller, f) || directory.NamesBoth(a, caller, f) {
				ids = append(ids, a.GetId())
			}
		}
		return ids
	}
	ids := usable(dir.Coverage(caller, f, scope, t))
	if len(ids) == 0 {
		return Grant{}, false
	}
	children := len(usable(dir.Coverage(caller, f, sinergiv1.Scope_SCOPE_CHILDREN_DATA, t))) > 0
	return Grant{Agreements: ids, Children: children}, true
}

// correctionsOversight: the ministry headquarters and the regional office
// of the facility's province oversee their own units. That is not an
// exchange between the two sides, so no agreement is involved: the data is
// the ministry's own.
func correctionsOversight(caller, f *sinergiv1.Institution) bool {
	switch caller.GetKind() {
	case sinergiv1.InstitutionKind_INSTITUTION_KIND_MINISTRY:
		return true
	case sinergiv1.InstitutionKind_INSTITUTION_KIND_KANWIL:
		return caller.GetRegionCode() != "" && directory.RegionWithin(f.GetRegionCode(), caller.GetRegionCode())
	}
	return false
}

// Facilities lists the facility codes in reach, sorted: storage queries
// restrict themselves to them.
func (r *Reach) Facilities() []string { return r.codes }

// Grant returns the grant for facility; ok is false when it is out of reach.
func (r *Reach) Grant(facility string) (Grant, bool) {
	g, ok := r.grants[facility]
	return g, ok
}

// Includes reports whether facility is in reach.
func (r *Reach) Includes(facility string) bool {
	_, ok := r.grants[facility]
	return ok
}

// Agreements lists every agreement behind the reach.
func (r *Reach) Agreements() []string {
	var out []string
	for _, g := range r.grants {
		for _, id := range g.Agreements {
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	sort.Strings(out)
	return out
}

type reachKey struct{}

type reaches map[sinergiv1.Scope]*Reach

type reachesValue struct {
	all   reaches
	first sinergiv1.Scope
}

// ReachFrom returns the Reach the authorization interceptor computed for
// the method's (first) scope. A data method without one is a wiring bug:
// it fails closed.
func ReachFrom(ctx context.Context) (*Reach, error) {
	if v, ok := ctx.Value(reachKey{}).(reachesValue); ok {
		return v.all[v.first], nil
	}
	return nil, status.Error(codes.Internal, "no authorization reach for this call")
}

// ReachFor returns the Reach for one of the method's scopes.
func ReachFor(ctx context.Context, scope sinergiv1.Scope) (*Reach, error) {
	if v, ok := ctx.Value(reachKey{}).(reachesValue); ok {
		if r := v.all[scope]; r != nil {
			return r, nil
		}
	}
	return nil, status.Errorf(codes.Internal, "no authorization reach for %s in this call", scope)
}

func withReaches(ctx context.Context, rs reaches, first sinergiv1.Scope) context.Context {
	return context.WithValue(ctx, reachKey{}, reachesValue{all: rs, first: first})
}
