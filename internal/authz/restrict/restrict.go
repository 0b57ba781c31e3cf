// Package restrict is the one form in which internal/authz hands a data
// query what its caller may read: a Restriction. The store puts its SQL
// condition into every custody and report query; code that holds rows
// already read (a stream deciding what to deliver) asks it in memory. Both
// forms come from one list of conditions per clause (Restriction.conds), so
// they cannot drift apart, and a test runs them side by side against
// PostgreSQL over every combination of row attributes.
//
// Only internal/authz builds restrictions (a test in authz walks the source
// tree to keep it so), from the caller's reach; the server's own workers
// use All.
package restrict

import (
	"slices"
	"strings"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Clause is one way a row is admitted: every condition of the clause holds.
type Clause struct {
	// Facilities: the row's facility is one of these.
	Facilities []string
	// Scope, when set: the row travels under this agreement scope (a
	// report's kind's scope). Rows without a scope never match it.
	Scope sinergiv1.Scope
	// Recipient: the caller must be among the row's recipients.
	Recipient bool
	// Secret: secret rows (RAHASIA reports) are admitted too.
	Secret bool
	// Children: children's rows are admitted where the query singles people
	// out by identity (NIK, name, birth date). A query that does not (by
	// record id, by facility) admits them, to be shown masked.
	Children bool
	// Override: the caller received the row by an emergency override
	// (reports): it is admitted whatever its facility (Facilities is then
	// ignored), as no agreement stands behind it.
	Override bool
}

// Restriction is what one caller may read. The zero value admits nothing.
type Restriction struct {
	caller  string
	all     bool
	clauses []Clause
	// plain is every clause's facilities, sorted, when no clause tests
	// anything but the facility under facility-only columns: the list the
	// shared record lookups send. Made once, never changed.
	plain   []string
	isPlain bool
}

// New is the restriction admitting a row when any clause does. caller is
// the calling institution's code (recipient conditions compare with it).
// Only internal/authz calls it.
func New(caller string, clauses ...Clause) *Restriction {
	r := &Restriction{caller: caller, isPlain: true}
	for _, c := range clauses {
		if len(c.Facilities) == 0 && !c.Override {
			continue // admits nothing
		}
		if c.Override {
			c.Facilities = nil
			r.isPlain = false
		}
		c.Facilities = slices.Clone(c.Facilities)
		slices.Sort(c.Facilities)
		r.clauses = append(r.clauses, c)
		if c.Scope != sinergiv1.Scope_SCOPE_UNSPECIFIED || c.Recipient {
			r.isPlain = false
		}
		r.plain = append(r.plain, c.Facilities...)
	}
	slices.Sort(r.plain)
	r.plain = slices.Compact(r.plain)
	if !r.isPlain {
		r.plain = nil
	}
	return r
}

// All admits every row: the server's own workers (the escalator) only.
func All() *Restriction { return &Restriction{all: true, isPlain: false} }

// Caller is the calling institution's code.
func (r *Restriction) Caller() string {
	if r == nil {
		return ""
	}
	return r.caller
}

// Row is a row as the in-memory form sees it.
type Row struct {
	Facility string
	// The agreement scope it travels under (reports), unspecified otherwise.
	Scope sinergiv1.Scope
	// The caller is among its recipients (reports: in the event's audience).
	Recipient bool
	// A secret (RAHASIA) report.
	Secret bool
	// A child's record, in a query that singles people out by identity.
	Child bool
	// The caller received it by an emergency override (reports).
	Override bool
}

// Columns say where a query finds a row's attributes, as SQL expressions.
// An attribute the query's rows do not have is left empty: a row then has
// no scope, no recipients, is not secret, and is not singled out as a child
// (Row's zero values), in SQL as in memory.
type Columns struct {
	Facility string
	Scope    string
	// Recipient makes the condition that the caller, whose code is bound
	// as the placeholder it is given, is among the row's recipients.
	Recipient func(callerPlaceholder string) string
	Secret    string
	Child     string
	// Override makes the condition that the caller, bound as the
	// placeholder it is given, received the row by an emergency override.
	Override func(callerPlaceholder string) string
}

// condition kinds: each has its SQL form and its in-memory form side by side
// in sql and holds.
type condKind int

const (
	condFacility condKind = iota
	condScope
	condRecipient
	condNotSecret
	condNotChild
	condOverride
)

type cond struct {
	kind       condKind
	facilities []string
	scope      sinergiv1.Scope
}

// conds is the one definition of a clause: the conditions that must all hold.
func (c Clause) conds() []cond {
	out := []cond{{kind: condFacility, facilities: c.Facilities}}
	if c.Override {
		out = []cond{{kind: condOverride}}
	}
	if c.Scope != sinergiv1.Scope_SCOPE_UNSPECIFIED {
		out = append(out, cond{kind: condScope, scope: c.Scope})
	}
	if c.Recipient {
		out = append(out, cond{kind: condRecipient})
	}
	if !c.Secret {
		out = append(out, cond{kind: condNotSecret})
	}
	if !c.Children {
		out = append(out, cond{kind: condNotChild})
	}
	return out
}

// ScopeText is how scope columns hold a scope: its name without SCOPE_.
func ScopeText(s sinergiv1.Scope) string { return strings.TrimPrefix(s.String(), "SCOPE_") }

func (c cond) holds(row Row) bool {
	switch c.kind {
	case condFacility:
		_, found := slices.BinarySearch(c.facilities, row.Facility)
		return found
	case condScope:
		return row.Scope == c.scope
	case condRecipient:
		return row.Recipient
	case condNotSecret:
		return !row.Secret
	case condNotChild:
		return !row.Child
	case condOverride:
		return row.Override
	}
	return false
}

func (c cond) sql(cols Columns, caller string, arg func(any) string) string {
	switch c.kind {
	case condFacility:
		return cols.Facility + " = ANY(" + arg(c.facilities) + "::text[])"
	case condScope:
		if cols.Scope == "" {
			return "FALSE"
		}
		return cols.Scope + " = " + arg(ScopeText(c.scope))
	case condRecipient:
		if cols.Recipient == nil {
			return "FALSE"
		}
		return cols.Recipient(arg(caller))
	case condNotSecret:
		if cols.Secret == "" {
			return "TRUE"
		}
		return "NOT " + cols.Secret
	case condNotChild:
		if cols.Child == "" {
			return "TRUE"
		}
		return "NOT " + cols.Child
	case condOverride:
		if cols.Override == nil {
			return "FALSE"
		}
		return cols.Override(arg(caller))
	}
	return "FALSE"
}

// Admits reports whether the caller may read row.
func (r *Restriction) Admits(row Row) bool {
	if r == nil {
		return false
	}
	if r.all {
		return true
	}
	for _, c := range r.clauses {
		ok := true
		for _, k := range c.conds() {
			if !k.holds(row) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// SQL is the restriction as a condition over cols; arg binds a value as the
// next placeholder of the query and returns it ("$3").
func (r *Restriction) SQL(cols Columns, arg func(any) string) string {
	if r == nil {
		return "FALSE"
	}
	if r.all {
		return "TRUE"
	}
	if len(r.clauses) == 0 {
		return "FALSE"
	}
	ors := make([]string, 0, len(r.clauses))
	for _, c := range r.clauses {
		ks := c.conds()
		ands := make([]string, 0, len(ks))
		for _, k := range ks {
			ands = append(ands, k.sql(cols, r.caller, arg))
		}
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}

// Facilities is the restriction for rows that have nothing but a facility
// (a custody record read by id): every facility it admits such rows of,
// sorted; ok is false when it tests more than the facility (then the caller
// must use SQL). The list is the same slice on every call: the shared
// record lookups send one copy per distinct list.
func (r *Restriction) Facilities() (facilities []string, ok bool) {
	if r == nil || r.all || !r.isPlain {
		return nil, false
	}
	return r.plain, true
}

// Empty reports whether the restriction admits nothing at all.
func (r *Restriction) Empty() bool { return r == nil || (!r.all && len(r.clauses) == 0) }
