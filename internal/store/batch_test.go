package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sinergi-id/sinergi/internal/authz/restrict"
	"github.com/sinergi-id/sinergi/internal/demodata"
	"github.com/sinergi-id/sinergi/internal/devenv"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/store"
)

var db *pgtest.DB

func TestMain(m *testing.M) { pgtest.Main(m, &db) }

// open connects to d as the server's role.
func open(t *testing.T, d *pgtest.DB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), d.App, store.Options{MaxConns: 4, IntegratorURL: d.Integrator})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// sealed gives records ids from st and a MAC the database accepts (the
// store does not check MACs; internal/audit makes and checks them).
func sealed(t *testing.T, st *store.Store, recs ...*store.AuditRecord) []*store.AuditRecord {
	t.Helper()
	first, err := st.ReserveAuditIDs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		r.ID, r.MAC = first+int64(i), make([]byte, 32)
	}
	return recs
}

// TestAppendAuditBatchKeepsEveryValue: the group commit's one statement
// carries each record's array columns as text; whatever a subject id or
// agreement number holds comes back as it went in.
func TestAppendAuditBatchKeepsEveryValue(t *testing.T) {
	ctx := context.Background()
	st := open(t, pgtest.Fresh(t))
	at := time.Now().UTC().Truncate(time.Microsecond)
	awkward := []string{`with "quotes"`, `back\slash`, `comma,brace{}`, `NULL`, ``, ` spaced `, `Ñandú 漢字`, `\"`, `{"a","b"}`}
	recs := sealed(t, st, []*store.AuditRecord{
		{At: at, RequestID: "r1", CallerCode: "polres-metro", Method: "/m/One", Decision: "ALLOWED", StatusCode: "OK",
			Subjects: awkward, AgreementIDs: []string{"PKS/1/2025", `B/"2"`}, LatencyMicros: 1},
		{At: at.Add(time.Millisecond), RequestID: "r2", Method: "/m/Two", Decision: "REFUSED", Reason: "no agreement",
			StatusCode: "NOT_FOUND", LatencyMicros: 2}, // nil arrays
		{At: at.Add(2 * time.Millisecond), RequestID: "r3", CallerCode: "mabes-polri", CertificateSerial: "0a:ff",
			OperatorID: "85051234", Method: "/m/Three", Purpose: "CRIMINAL_INVESTIGATION", CaseReference: "LP/B/1'2",
			Decision: "ALLOWED", StatusCode: "OK", Subjects: []string{"only"}, AgreementIDs: []string{}, LatencyMicros: 3},
	}...)
	if err := st.AppendAuditBatch(ctx, recs); err != nil {
		t.Fatal(err)
	}
	rows, err := st.Pool.Query(ctx, `SELECT id, at, request_id, caller_code, certificate_serial, operator_id, method, purpose,
		case_reference, decision, reason, agreement_ids, status_code, subjects, latency_us, mac FROM audit_records ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []*store.AuditRecord
	for rows.Next() {
		var r store.AuditRecord
		if err := rows.Scan(&r.ID, &r.At, &r.RequestID, &r.CallerCode, &r.CertificateSerial, &r.OperatorID, &r.Method, &r.Purpose,
			&r.CaseReference, &r.Decision, &r.Reason, &r.AgreementIDs, &r.StatusCode, &r.Subjects, &r.LatencyMicros, &r.MAC); err != nil {
			t.Fatal(err)
		}
		r.At = r.At.UTC()
		got = append(got, &r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	recs[1].Subjects, recs[1].AgreementIDs = []string{}, []string{}
	if d := cmp.Diff(recs, got); d != "" {
		t.Fatalf("stored records differ (-sent +stored):\n%s", d)
	}
}

// TestAppendAuditBatchIsAllOrNothing: a batch with one record the
// database refuses (a time that is not now, no MAC) writes none of them,
// and the refusal is a data error (which the writer isolates).
func TestAppendAuditBatchIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	st := open(t, pgtest.Fresh(t))
	at := time.Now().UTC()
	for name, bad := range map[string]*store.AuditRecord{
		"old":    {At: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), RequestID: "bad", Method: "/m", Decision: "ALLOWED", StatusCode: "OK"},
		"future": {At: at.Add(time.Hour), RequestID: "bad", Method: "/m", Decision: "ALLOWED", StatusCode: "OK"},
		"no mac": {At: at, RequestID: "bad", Method: "/m", Decision: "ALLOWED", StatusCode: "OK"},
	} {
		good := &store.AuditRecord{At: at, RequestID: "ok", Method: "/m", Decision: "ALLOWED", StatusCode: "OK"}
		recs := sealed(t, st, good, bad)
		if name == "no mac" {
			bad.MAC = nil
		}
		err := st.AppendAuditBatch(ctx, recs)
		if err == nil {
			t.Fatalf("%s: a batch with a bad record was accepted", name)
		}
		if !store.IsDataError(err) {
			t.Errorf("%s: %v is not a data error", name, err)
		}
	}
	var n int
	if err := st.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_records`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d records written by failed batches, want 0", n)
	}
}

// TestGetCustodyRecordSharedLookups: many concurrent lookups, each with its
// own facilities, share statements; each caller gets exactly its own
// answer, and a record outside its facilities is not found, as a record
// that does not exist.
func TestGetCustodyRecordSharedLookups(t *testing.T) {
	ctx := context.Background()
	if _, err := devenv.SeedDemo(ctx, db.App, devenv.EphemeralKeys(), devenv.DevOperator); err != nil {
		t.Fatal(err)
	}
	st := open(t, db)
	d, err := st.LoadDirectory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fs := demodata.FacilitiesOf(d.Institutions)
	if _, err := demodata.Load(ctx, st, 7, 600, fs, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	type held struct{ id, facility string }
	var people []held
	rows, err := st.Pool.Query(ctx, `SELECT id::text, facility_code FROM custody_records ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var h held
		if err := rows.Scan(&h.id, &h.facility); err != nil {
			t.Fatal(err)
		}
		people = append(people, h)
	}
	if rows.Err() != nil || len(people) != 600 {
		t.Fatalf("%d people (%v), want 600", len(people), rows.Err())
	}
	other := func(f string) string {
		for _, o := range fs {
			if o.Code != f {
				return o.Code
			}
		}
		return ""
	}
	type lookup struct {
		id         string
		facilities []string
		want       string // facility of the record, or "" for not found
	}
	// A caller's restriction is made once and shared by all its lookups
	// (the three shared lists below); others each have their own.
	restriction := func(list []string) *restrict.Restriction {
		return restrict.New("caller", restrict.Clause{Facilities: list, Secret: true, Children: true})
	}
	// Callers pass the list their reach keeps, shared by all their lookups;
	// a prefix of a list starts at the same place but is another list.
	all := make([]string, len(fs))
	for i, f := range fs {
		all[i] = f.Code
	}
	prefix, suffix := all[:2], all[len(all)-2:]
	shared := map[string]*restrict.Restriction{"all": restriction(all), "prefix": restriction(prefix), "suffix": restriction(suffix)}
	restrictionOf := func(list []string) *restrict.Restriction {
		switch {
		case len(list) > 0 && &list[0] == &all[0] && len(list) == len(all):
			return shared["all"]
		case len(list) > 0 && &list[0] == &prefix[0] && len(list) == len(prefix):
			return shared["prefix"]
		case len(list) > 0 && &list[0] == &suffix[0] && len(list) == len(suffix):
			return shared["suffix"]
		}
		return restriction(list)
	}
	within := func(list []string, f string) string {
		if slices.Contains(list, f) {
			return f
		}
		return ""
	}
	var lookups []lookup
	for i, p := range people {
		switch i % 7 {
		case 4:
			lookups = append(lookups, lookup{p.id, all, p.facility})
		case 5:
			lookups = append(lookups, lookup{p.id, prefix, within(prefix, p.facility)})
		case 6:
			lookups = append(lookups, lookup{p.id, suffix, within(suffix, p.facility)})
		case 0: // its own facility
			lookups = append(lookups, lookup{p.id, []string{p.facility}, p.facility})
		case 1: // among others
			lookups = append(lookups, lookup{p.id, []string{other(p.facility), p.facility}, p.facility})
		case 2: // outside the caller's facilities
			lookups = append(lookups, lookup{p.id, []string{other(p.facility)}, ""})
		case 3: // nothing within reach
			lookups = append(lookups, lookup{p.id, nil, ""})
		}
	}
	lookups = append(lookups,
		lookup{"00000000-0000-4000-8000-000000000000", []string{fs[0].Code}, ""}, // no such record
		lookup{"not-a-uuid", []string{fs[0].Code}, ""},                           // malformed: not found, and harms no one else
		lookup{"'; DROP TABLE custody_records; --", []string{fs[0].Code}, ""},
	)
	rss := make([]*restrict.Restriction, len(lookups))
	for i := range lookups {
		rss[i] = restrictionOf(lookups[i].facilities)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3*len(lookups))
	for round := range 3 {
		for i, l := range lookups {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rec, err := st.GetCustodyRecord(ctx, rss[i], l.id)
				switch {
				case l.want == "" && !errors.Is(err, store.ErrNotFound):
					errs <- fmt.Errorf("round %d lookup %d (%s in %v): got %v, %v; want not found", round, i, l.id, l.facilities, rec.GetId(), err)
				case l.want != "" && err != nil:
					errs <- fmt.Errorf("round %d lookup %d (%s in %v): %v", round, i, l.id, l.facilities, err)
				case l.want != "" && (rec.GetId() != l.id || rec.GetFacilityCode() != l.want):
					errs <- fmt.Errorf("round %d lookup %d: got %s in %s, want %s in %s", round, i, rec.GetId(), rec.GetFacilityCode(), l.id, l.want)
				}
			}()
		}
		wg.Wait()
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// A caller that has gone away stops waiting.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := st.GetCustodyRecord(cctx, restriction([]string{people[0].facility}), people[0].id); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled lookup: %v, want context.Canceled", err)
	}
}
