package restrict_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	. "github.com/sinergi-id/sinergi/internal/authz/restrict"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

var db *pgtest.DB

func TestMain(m *testing.M) { pgtest.Main(m, &db) }

// rows are every combination of the attributes a restriction tests.
func rows() []Row {
	var out []Row
	for _, f := range []string{"lapas-a", "lapas-b", "lpka-c", "rutan-d"} {
		for _, sc := range []sinergiv1.Scope{sinergiv1.Scope_SCOPE_UNSPECIFIED, sinergiv1.Scope_SCOPE_INCIDENT_REPORTS, sinergiv1.Scope_SCOPE_NARCOTICS_INTELLIGENCE} {
			for _, rec := range []bool{false, true} {
				for _, sec := range []bool{false, true} {
					for _, child := range []bool{false, true} {
						for _, over := range []bool{false, true} {
							out = append(out, Row{Facility: f, Scope: sc, Recipient: rec, Secret: sec, Child: child, Override: over})
						}
					}
				}
			}
		}
	}
	return out
}

// TestSQLAndMemoryAgree runs each restriction's SQL over every row in
// PostgreSQL and compares, row by row, with its in-memory answer: with
// every attribute present, and with the attributes a query lacks left out
// (its rows then have those attributes' zero values).
func TestSQLAndMemoryAgree(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	restrictions := map[string]*Restriction{
		"nothing":   New("polres-x"),
		"empty":     New("polres-x", Clause{}),
		"all":       All(),
		"own":       New("lapas-a", Clause{Facilities: []string{"lapas-a"}, Secret: true, Children: true}),
		"custody":   New("polres-x", Clause{Facilities: []string{"lpka-c"}, Secret: true, Children: true}, Clause{Facilities: []string{"lapas-a", "lapas-b"}, Secret: true}),
		"no secret": New("polres-x", Clause{Facilities: []string{"lapas-a"}, Scope: sinergiv1.Scope_SCOPE_INCIDENT_REPORTS, Recipient: true, Children: true}),
		"reports": New("polres-x",
			Clause{Facilities: []string{"lapas-a", "lpka-c"}, Scope: sinergiv1.Scope_SCOPE_NARCOTICS_INTELLIGENCE, Recipient: true, Secret: true, Children: true},
			Clause{Facilities: []string{"lapas-b"}, Scope: sinergiv1.Scope_SCOPE_INCIDENT_REPORTS, Recipient: true, Children: true},
			Clause{Facilities: []string{"rutan-d"}, Secret: true, Children: true}),
		"reports with overrides": New("polres-x",
			Clause{Facilities: []string{"lapas-a"}, Scope: sinergiv1.Scope_SCOPE_INCIDENT_REPORTS, Recipient: true, Secret: true, Children: true},
			Clause{Override: true, Children: true}),
	}
	recipient := func(p string) string { return p + " = ANY(t.recipients)" }
	override := func(p string) string { return p + " = ANY(t.overriders)" }
	columnSets := map[string]struct {
		cols Columns
		keep func(Row) Row // what rows look like to a query with these columns
	}{
		"every attribute": {Columns{Facility: "t.facility", Scope: "t.scope", Recipient: recipient, Secret: "t.secret", Child: "t.child", Override: override},
			func(r Row) Row { return r }},
		"custody by record":   {Columns{Facility: "t.facility"}, func(r Row) Row { return Row{Facility: r.Facility} }},
		"custody by identity": {Columns{Facility: "t.facility", Child: "t.child"}, func(r Row) Row { return Row{Facility: r.Facility, Child: r.Child} }},
		"reports": {Columns{Facility: "t.facility", Scope: "t.scope", Recipient: recipient, Secret: "t.secret", Override: override},
			func(r Row) Row { r.Child = false; return r }},
	}
	all := rows()
	var values []string
	for i, r := range all {
		recipients, overriders := "ARRAY[]::text[]", "ARRAY[]::text[]"
		if r.Recipient {
			recipients = "ARRAY['polres-x', 'lapas-a']"
		}
		if r.Override {
			overriders = "ARRAY['polres-x']"
		}
		values = append(values, fmt.Sprintf("(%d, '%s', '%s', %s, %v, %v, %s)", i, r.Facility, ScopeText(r.Scope), recipients, r.Secret, r.Child, overriders))
	}
	table := "(VALUES " + strings.Join(values, ", ") + ") AS t(n, facility, scope, recipients, secret, child, overriders)"
	for rname, rs := range restrictions {
		for cname, cs := range columnSets {
			t.Run(rname+"/"+cname, func(t *testing.T) {
				var args []any
				cond := rs.SQL(cs.cols, func(v any) string {
					args = append(args, v)
					return "$" + strconv.Itoa(len(args))
				})
				q := "SELECT t.n FROM " + table + " WHERE " + cond
				got, err := conn.Query(ctx, q, args...)
				if err != nil {
					t.Fatalf("%s: %v", cond, err)
				}
				inSQL, err := pgx.CollectRows(got, pgx.RowTo[int32])
				if err != nil {
					t.Fatal(err)
				}
				admitted := map[int32]bool{}
				for _, n := range inSQL {
					admitted[n] = true
				}
				count := 0
				for i, r := range all {
					seen := cs.keep(r)
					mem := rs.Admits(seen)
					if mem {
						count++
					}
					if mem != admitted[int32(i)] {
						t.Errorf("row %+v (seen as %+v): in memory %v, in SQL %v (%s)", r, seen, mem, admitted[int32(i)], cond)
					}
				}
				t.Logf("%d of %d rows admitted", count, len(all))
			})
		}
	}
}

// TestFacilities: the list shared lookups send is the same slice on every
// call, and only a restriction that tests nothing but the facility has one.
func TestFacilities(t *testing.T) {
	r := New("polres-x", Clause{Facilities: []string{"lapas-b", "lpka-c"}, Secret: true, Children: true}, Clause{Facilities: []string{"lapas-a", "lapas-b"}, Secret: true})
	a, ok := r.Facilities()
	b, _ := r.Facilities()
	if !ok || strings.Join(a, ",") != "lapas-a,lapas-b,lpka-c" || &a[0] != &b[0] {
		t.Fatalf("facilities %v %v", a, ok)
	}
	if _, ok := New("polres-x", Clause{Facilities: []string{"lapas-a"}, Scope: sinergiv1.Scope_SCOPE_INCIDENT_REPORTS}).Facilities(); ok {
		t.Error("a restriction testing the scope gave a facility list")
	}
	if _, ok := All().Facilities(); ok {
		t.Error("All gave a facility list")
	}
	if !New("x").Empty() || New("x", Clause{Facilities: []string{"a"}}).Empty() || All().Empty() {
		t.Error("Empty")
	}
	var none *Restriction
	if none.Admits(Row{Facility: "lapas-a"}) || none.SQL(Columns{Facility: "f"}, nil) != "FALSE" {
		t.Error("a nil restriction must admit nothing")
	}
}
