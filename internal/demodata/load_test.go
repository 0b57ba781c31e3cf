package demodata

import (
	"context"
	"testing"

	"github.com/sinergi-id/sinergi/internal/devenv"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/store"
)

var db *pgtest.DB

func TestMain(m *testing.M) { pgtest.Main(m, &db) }

// TestLoad loads people into the demo directory's facilities through the
// roster merge: loading again changes nothing, a larger count only adds.
func TestLoad(t *testing.T) {
	ctx := context.Background()
	if _, err := devenv.SeedDemo(ctx, db.App, devenv.EphemeralKeys(), devenv.DevOperator); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, db.App, store.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := st.LoadDirectory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fs := FacilitiesOf(d.Institutions)
	if len(fs) != 6 {
		t.Fatalf("%d demo facilities, want 6", len(fs))
	}
	sum := func(rs []Result) (ins, upd, same int64) {
		for _, r := range rs {
			ins, upd, same = ins+r.Inserted, upd+r.Updated, same+r.Unchanged
		}
		return
	}
	res, err := Load(ctx, st, 1, 2000, fs, anchor)
	if err != nil {
		t.Fatal(err)
	}
	if ins, upd, same := sum(res); ins != 2000 || upd != 0 || same != 0 {
		t.Fatalf("first load: %d inserted, %d updated, %d unchanged", ins, upd, same)
	}
	res, err = Load(ctx, st, 1, 2500, fs, anchor)
	if err != nil {
		t.Fatal(err)
	}
	if ins, upd, same := sum(res); ins != 500 || upd != 0 || same != 2000 {
		t.Fatalf("second load: %d inserted, %d updated, %d unchanged", ins, upd, same)
	}
	n, err := st.CountCustodyRecords(ctx, nil)
	if err != nil || n != 2500 {
		t.Fatalf("%d records (%v), want 2500", n, err)
	}
	var events, children, lpka int64
	if err := st.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM custody_events WHERE type = 'ADMISSION'),
		(SELECT count(*) FILTER (WHERE child) FROM custody_records), (SELECT count(*) FROM custody_records WHERE facility_code = 'lpka-tenggarong')`).
		Scan(&events, &children, &lpka); err != nil {
		t.Fatal(err)
	}
	if events != 2500 || children != lpka || lpka == 0 {
		t.Fatalf("%d admissions, %d children's records, %d in the LPKA", events, children, lpka)
	}
}
