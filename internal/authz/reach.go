package authz

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sinergi-id/sinergi/internal/authz/restrict"
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
	// Own is set for the caller's own data: its own facility's, or, for the
	// ministry and a regional office, their units' (corrections oversight).
	Own bool
	// Classes are the classes of data the caller may see of the facility's
	// records: the agreements behind the grant, and any other agreement
	// between the two for detainee data, cover them (classScopes).
	Classes ClassSet
}

// Shows reports whether the grant shows class c of a record (child tells
// whether it is a child's, whose identity needs children's data too).
func (g Grant) Shows(c Class, child bool) bool {
	if !g.Classes.Has(c) {
		return false
	}
	return c != ClassIdentity || !child || g.Children
}

// Reach is what a caller may see for one scope at one moment. It is shared
// between calls (see ComputeReach): never change it.
type Reach struct {
	Caller *sinergiv1.Institution
	Scope  sinergiv1.Scope
	grants map[string]Grant
	codes  []string

	restrictOnce sync.Once
	restriction  *restrict.Restriction
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
	return termMemo(dir, key, t, func() *Reach { return computeReach(dir, caller, scope, t, opts) })
}

// termMemo returns what derive makes of dir at t, kept with the
// snapshot under key for the term window around t (nothing an agreement's
// standing depends on changes within it). What it returns must not be
// changed.
func termMemo[T any](dir *directory.Snapshot, key any, t time.Time, derive func() T) T {
	memo := dir.Memo(key, func() any { return &windowMemo[T]{} }).(*windowMemo[T])
	memo.mu.Lock()
	defer memo.mu.Unlock()
	for _, w := range memo.windows {
		if !t.Before(w.lo) && (w.hi.IsZero() || t.Before(w.hi)) {
			return w.v
		}
	}
	v := derive()
	lo, hi := dir.TermWindow(t)
	if len(memo.windows) < maxWindows {
		memo.windows = append(memo.windows, termWindow[T]{lo: lo, hi: hi, v: v})
	}
	return v
}

// maxWindows bounds the windows kept per key (tests and backdated checks
// ask about many moments; calls ask about now).
const maxWindows = 8

type windowMemo[T any] struct {
	mu      sync.Mutex
	windows []termWindow[T]
}

type termWindow[T any] struct {
	lo, hi time.Time
	v      T
}

type reachKeyOf struct {
	caller string
	scope  sinergiv1.Scope
	opts   ReachOptions
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
		return Grant{Own: true, Children: true, Classes: allClasses}, true
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
	g := Grant{Agreements: ids, Classes: classesOfScopes(scope)}
	g.Children = len(usable(dir.Coverage(caller, f, sinergiv1.Scope_SCOPE_CHILDREN_DATA, t))) > 0
	if scope == sinergiv1.Scope_SCOPE_CUSTODY_EVENTS {
		// Events alone carry no identity: only an agreement for detainee
		// data between the two lets their deliveries say who.
		if more := usable(dir.Coverage(caller, f, sinergiv1.Scope_SCOPE_DETAINEE_DATA, t)); len(more) > 0 {
			g.Classes |= classesOfScopes(sinergiv1.Scope_SCOPE_DETAINEE_DATA)
			for _, id := range more {
				if !slices.Contains(g.Agreements, id) {
					g.Agreements = append(g.Agreements, id)
				}
			}
			sort.Strings(g.Agreements)
		}
	}
	return g, true
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

// Facilities lists the facility codes in reach, sorted.
func (r *Reach) Facilities() []string { return r.codes }

// Restriction is the reach as the one restriction custody queries take:
// the records of its facilities; where the query singles people out by
// identity, children's records only where the grant shows children's
// identities. It is made once per reach, and reaches are shared.
func (r *Reach) Restriction() *restrict.Restriction {
	r.restrictOnce.Do(func() {
		var children, others []string
		for _, f := range r.codes {
			if r.grants[f].Children {
				children = append(children, f)
			} else {
				others = append(others, f)
			}
		}
		r.restriction = restrict.New(r.Caller.GetCode(),
			restrict.Clause{Facilities: children, Secret: true, Children: true},
			restrict.Clause{Facilities: others, Secret: true})
	})
	return r.restriction
}

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

// Reaches are a call's reaches, one per scope of its rule, computed once by
// the interceptor (or by a stream for each batch it delivers).
type Reaches struct {
	caller  *sinergiv1.Institution
	byScope map[sinergiv1.Scope]*Reach
	scopes  []sinergiv1.Scope
}

// ComputeReaches computes caller's reach for each of scopes at t.
func ComputeReaches(dir *directory.Snapshot, caller *sinergiv1.Institution, t time.Time, scopes ...sinergiv1.Scope) Reaches {
	rs := Reaches{caller: caller, byScope: make(map[sinergiv1.Scope]*Reach, len(scopes)), scopes: scopes}
	for _, sc := range scopes {
		rs.byScope[sc] = ComputeReach(dir, caller, sc, t, ReachOptions{})
	}
	return rs
}

// For returns the reach for scope, nil when the call has none.
func (rs Reaches) For(scope sinergiv1.Scope) *Reach { return rs.byScope[scope] }

// Grant returns the grant for facility's data of scope.
func (rs Reaches) Grant(facility string, scope sinergiv1.Scope) (Grant, bool) {
	if r := rs.byScope[scope]; r != nil {
		return r.Grant(facility)
	}
	return Grant{}, false
}

// Owns reports whether facility's data is the caller's own (its own
// facility, or one it oversees), under any of the reaches.
func (rs Reaches) Owns(facility string) bool {
	for _, sc := range rs.scopes {
		if g, ok := rs.byScope[sc].Grant(facility); ok && g.Own {
			return true
		}
	}
	return false
}

// Agreements lists the agreements that let the caller see facility's data
// of scope (none for its own data).
func (rs Reaches) Agreements(facility string, scope sinergiv1.Scope) []string {
	g, _ := rs.Grant(facility, scope)
	return g.Agreements
}

// Reports is the one restriction report queries take: a facility reads the
// reports it filed, the ministry and a regional office those of their units
// (their own data: corrections oversight); a police unit reads the reports
// it received, of facilities its reach includes now for the report's
// scope. A RAHASIA report needs a grant that rests on an agreement for the
// scope (every grant but one's own does today; the condition keeps it so).
//
// A police unit also reads the reports it received by an emergency
// override, of any facility, but never a RAHASIA one.
func (rs Reaches) Reports() *restrict.Restriction { return rs.reports(true) }

// ReportContents is Reports without the emergency overrides: what an
// override does not carry (attachments) is read under it.
func (rs Reaches) ReportContents() *restrict.Restriction { return rs.reports(false) }

// CallerCode is the calling institution's code.
func (rs Reaches) CallerCode() string { return rs.caller.GetCode() }

func (rs Reaches) reports(overrides bool) *restrict.Restriction {
	own := map[string]bool{}
	var ownList []string
	var clauses []restrict.Clause
	for _, sc := range rs.scopes {
		r := rs.byScope[sc]
		var agreed, bare []string
		for _, f := range r.Facilities() {
			g, _ := r.Grant(f)
			switch {
			case g.Own:
				if !own[f] {
					own[f] = true
					ownList = append(ownList, f)
				}
			case len(g.Agreements) > 0:
				agreed = append(agreed, f)
			default:
				bare = append(bare, f)
			}
		}
		if !isReportScope(sc) {
			continue
		}
		clauses = append(clauses,
			restrict.Clause{Facilities: agreed, Scope: sc, Recipient: true, Secret: true, Children: true},
			restrict.Clause{Facilities: bare, Scope: sc, Recipient: true, Children: true})
	}
	clauses = append(clauses, restrict.Clause{Facilities: ownList, Secret: true, Children: true})
	if overrides && directory.SideOf(rs.caller.GetKind()) == sinergiv1.Side_SIDE_POLRI {
		clauses = append(clauses, restrict.Clause{Override: true, Children: true})
	}
	return restrict.New(rs.caller.GetCode(), clauses...)
}

// Custody is the restriction of custody queries: the reach of the call's
// (first) scope.
func (rs Reaches) Custody() *restrict.Restriction {
	if len(rs.scopes) == 0 {
		return restrict.New(rs.caller.GetCode())
	}
	return rs.byScope[rs.scopes[0]].Restriction()
}

// AllAgreements lists every agreement behind any of the reaches.
func (rs Reaches) AllAgreements() []string {
	var out []string
	for _, sc := range rs.scopes {
		for _, id := range rs.byScope[sc].Agreements() {
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	sort.Strings(out)
	return out
}

func isReportScope(sc sinergiv1.Scope) bool { return slices.Contains(reportScopes, sc) }

// ReachesFrom returns the reaches the authorization interceptor computed
// for the call. A data method without them is a wiring bug: it fails closed.
func ReachesFrom(ctx context.Context) (Reaches, error) {
	if v, ok := ctx.Value(reachKey{}).(Reaches); ok {
		return v, nil
	}
	return Reaches{}, status.Error(codes.Internal, "no authorization reach for this call")
}

// RestrictionFrom is the custody restriction of the call.
func RestrictionFrom(ctx context.Context) (*restrict.Restriction, *Reach, error) {
	rs, err := ReachesFrom(ctx)
	if err != nil || len(rs.scopes) == 0 {
		return nil, nil, status.Error(codes.Internal, "no authorization reach for this call")
	}
	r := rs.byScope[rs.scopes[0]]
	return r.Restriction(), r, nil
}

// ReachFrom returns the Reach the authorization interceptor computed for
// the method's (first) scope. A data method without one is a wiring bug:
// it fails closed.
func ReachFrom(ctx context.Context) (*Reach, error) {
	if v, ok := ctx.Value(reachKey{}).(Reaches); ok && len(v.scopes) > 0 {
		return v.byScope[v.scopes[0]], nil
	}
	return nil, status.Error(codes.Internal, "no authorization reach for this call")
}

// ReachFor returns the Reach for one of the method's scopes.
func ReachFor(ctx context.Context, scope sinergiv1.Scope) (*Reach, error) {
	if v, ok := ctx.Value(reachKey{}).(Reaches); ok {
		if r := v.byScope[scope]; r != nil {
			return r, nil
		}
	}
	return nil, status.Errorf(codes.Internal, "no authorization reach for %s in this call", scope)
}

func withReaches(ctx context.Context, rs Reaches) context.Context {
	return context.WithValue(ctx, reachKey{}, rs)
}
