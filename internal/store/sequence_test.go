package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sinergi-id/sinergi/internal/store"
)

// TestSequenceFastLaneOvertakesBulk: an event of a single call is ordered
// in the next pass even while a roster merge's admissions wait in the
// queue, and never ahead of an earlier queued event of its own record.
func TestSequenceFastLaneOvertakesBulk(t *testing.T) {
	ctx := context.Background()
	_, admin := freshAdmin(t)
	const a, b = "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"
	bulk := insertEvents(t, admin, a, 300) // a merge's admissions: one statement of 300 rows
	fastB := insertEvents(t, admin, b, 1)[0]
	fastA := insertEvents(t, admin, a, 1)[0] // after record a's bulk events
	seqOf := func(id int64) int64 { return positionOf(t, admin, id) }

	seq := &store.CustodyEventPasses{}
	n, err := seq.Pass(ctx, admin, 100)
	if err != nil {
		t.Fatal(err)
	}
	var first int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM custody_event_order`).Scan(&first); err != nil {
		t.Fatal(err)
	}
	if want := 1 + 100/store.BulkShare; first != want || n < 100 {
		t.Fatalf("first pass ordered %d events and returned %d; want %d (b's and a slice of the merge's) and at least 100 (more waiting)", first, n, want)
	}
	if got := seqOf(fastB); got != 1 {
		t.Fatalf("b's event has position %d after the first pass, want 1 (ahead of the merge)", got)
	}
	if got := seqOf(fastA); got != 0 {
		t.Fatalf("a's later event was ordered (position %d) while a's earlier merge events still waited", got)
	}
	for pass := 0; ; pass++ {
		n, err := seq.Pass(ctx, admin, 100)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if pass > 300/(100/store.BulkShare)+2 {
			t.Fatal("the queue does not drain")
		}
	}
	var ordered, maxSeq int64
	if err := admin.QueryRow(ctx, `SELECT count(*), max(seq) FROM custody_event_order`).Scan(&ordered, &maxSeq); err != nil {
		t.Fatal(err)
	}
	if ordered != 302 || maxSeq != 302 {
		t.Fatalf("%d events ordered up to position %d, want 302 dense positions", ordered, maxSeq)
	}
	last := seqOf(fastA)
	for _, id := range bulk {
		if s := seqOf(id); s == 0 || s > last {
			t.Fatalf("merge event %d has position %d, a's later event %d: a's events out of their commit order", id, s, last)
		}
	}
}

// TestSequenceBulkReadsOnAndCatchesLate: a sequencer's passes read the
// bulk lane on from the last event they ordered, and a bulk transaction
// that commits late, with ids below that point, is still ordered, every
// event once, its record's events in their commit order.
func TestSequenceBulkReadsOnAndCatchesLate(t *testing.T) {
	ctx := context.Background()
	d, admin := freshAdmin(t)
	const a, c = "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000c"
	late, err := pgx.Connect(ctx, d.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close(ctx)
	tx, err := late.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	early := insertEvents(t, tx, c, 150) // ids first, committed last
	bulkA := insertEvents(t, admin, a, 300)
	seqOf := func(id int64) int64 { return positionOf(t, admin, id) }

	p := &store.CustodyEventPasses{}
	slice := 100 / store.BulkShare
	for range 2 {
		if _, err := p.Pass(ctx, admin, 100); err != nil {
			t.Fatal(err)
		}
	}
	if got := seqOf(bulkA[2*slice-1]); got != int64(2*slice) {
		t.Fatalf("after two passes a's event %d has position %d, want %d", 2*slice, got, 2*slice)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	after := insertEvents(t, admin, c, 150) // c's later events, above the passes' point
	if _, err := p.Pass(ctx, admin, 100); err != nil {
		t.Fatal(err)
	}
	if got, first := seqOf(bulkA[3*slice-1]), seqOf(early[0]); got != int64(3*slice) || first != 0 {
		t.Fatalf("the third pass gave a's event %d position %d and c's first %d; want %d and 0 (read on from the point, not from the start)", 3*slice, got, first, 3*slice)
	}

	for pass := 0; ; pass++ {
		n, err := p.Pass(ctx, admin, 100)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if pass > 600/slice*2 {
			t.Fatal("the queue does not drain")
		}
	}
	var ordered, distinct, maxSeq int64
	if err := admin.QueryRow(ctx, `SELECT count(*), count(DISTINCT event_id), max(seq) FROM custody_event_order`).Scan(&ordered, &distinct, &maxSeq); err != nil {
		t.Fatal(err)
	}
	if ordered != 600 || distinct != 600 || maxSeq != 600 {
		t.Fatalf("%d events (%d distinct) ordered up to position %d, want 600 once each at dense positions", ordered, distinct, maxSeq)
	}
	prev := int64(0)
	for _, id := range append(early, after...) {
		s := seqOf(id)
		if s <= prev {
			t.Fatalf("c's event %d has position %d after %d: c's events out of their commit order", id, s, prev)
		}
		prev = s
	}
}

// insertEvents inserts n admissions of record in one statement on db and
// returns their ids.
func insertEvents(t *testing.T, db interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, record string, n int) []int64 {
	t.Helper()
	rows, err := db.Query(context.Background(), `INSERT INTO custody_events (record_id, facility_code, type, effective_time, status_after, record_time)
		SELECT $1::uuid, 'lapas-cipinang', 'ADMISSION', now(), 'HELD', now() FROM generate_series(1, $2) RETURNING id`, record, n)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// positionOf is event id's position in the custody order (0: not ordered).
func positionOf(t *testing.T, conn *pgx.Conn, id int64) int64 {
	t.Helper()
	var seq int64
	if err := conn.QueryRow(context.Background(), `SELECT coalesce((SELECT seq FROM custody_event_order WHERE event_id = $1), 0)`, id).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	return seq
}

// TestSequenceBulkWaitsForAFullFastLane: while more fast events are queued
// than a pass takes, no bulk event is ordered, so none overtakes an
// earlier fast event of its record left for the next pass.
func TestSequenceBulkWaitsForAFullFastLane(t *testing.T) {
	ctx := context.Background()
	_, admin := freshAdmin(t)
	const r = "00000000-0000-0000-0000-0000000000ff"
	const limit = 10
	for i := range limit + 1 {
		insertEvents(t, admin, fmt.Sprintf("00000000-0000-0000-0000-%012d", i+1), 1)
	}
	fast := insertEvents(t, admin, r, 1)[0] // beyond the first pass's fast lane
	bulk := insertEvents(t, admin, r, 150)  // r's later events, one statement: bulk
	p := &store.CustodyEventPasses{}
	for pass := 0; ; pass++ {
		n, err := p.Pass(ctx, admin, limit)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if pass > 200 {
			t.Fatal("the queue does not drain")
		}
	}
	first := positionOf(t, admin, fast)
	for _, id := range bulk {
		if s := positionOf(t, admin, id); s == 0 || s < first {
			t.Fatalf("r's bulk event %d has position %d, its earlier fast event %d has %d: r's events out of their commit order", id, s, fast, first)
		}
	}
}
