package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/store"
)

// TestCleanAuditPending: the integrator's role may merge the subjects
// index's pending lists, the merge moves what the inserts left there, and
// the records are found by subject before and after it.
func TestCleanAuditPending(t *testing.T) {
	ctx := context.Background()
	st := open(t, pgtest.Fresh(t))
	now := time.Now().UTC()
	var recs []*store.AuditRecord
	for i := range 500 {
		recs = append(recs, &store.AuditRecord{At: now, RequestID: fmt.Sprintf("r%d", i), Method: "/m/Get", Decision: "ALLOWED",
			StatusCode: "OK", Subjects: []string{fmt.Sprintf("custody/%08d-0000-4000-8000-000000000000", i)}})
	}
	if err := st.AppendAuditBatch(ctx, sealed(t, st, recs...)); err != nil {
		t.Fatal(err)
	}
	found := func() int {
		t.Helper()
		var n int
		if err := st.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_records WHERE subjects @> ARRAY[$1::text]`,
			"custody/00000321-0000-4000-8000-000000000000").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := found(); n != 1 {
		t.Fatalf("before the merge, %d records by subject", n)
	}
	err := st.Lead(ctx, 0, true, func(ctx context.Context, db store.DB) error {
		pages, err := store.CleanAuditPending(ctx, db)
		if err != nil {
			return err
		}
		if pages == 0 {
			t.Error("the merge found no pending pages after 500 inserts")
		}
		if n := found(); n != 1 {
			t.Errorf("after the merge, %d records by subject", n)
		}
		if again, err := store.CleanAuditPending(ctx, db); err != nil || again != 0 {
			t.Errorf("a second merge found %d pages, %v", again, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
