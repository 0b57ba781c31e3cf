package audit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/store"
)

var db *pgtest.DB

func TestMain(m *testing.M) { pgtest.Main(m, &db) }

func record(i int) *store.AuditRecord {
	return &store.AuditRecord{At: time.Now().Truncate(time.Microsecond), RequestID: fmt.Sprint("writer-test-", i),
		CallerCode: "polres-metro", Method: "/test/Writer", Decision: "ALLOWED", StatusCode: "OK",
		Subjects: []string{fmt.Sprint("custody/", i)}}
}

// TestWriterCommitsEveryRecord appends from 200 callers at once through the
// server's writer (two flushers) into PostgreSQL, and finds each record
// there exactly once.
func TestWriterCommitsEveryRecord(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, pgtest.Fresh(t).URL, store.Options{MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := audit.NewWriter(st, audit.Flushers, 512, 4096)
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- w.Append(ctx, record(i))
		}()
	}
	wg.Wait()
	w.Close()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var rows, distinct int
	if err := st.Pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT request_id) FROM audit_records WHERE method = '/test/Writer'`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != n || distinct != n {
		t.Fatalf("%d rows, %d distinct request ids; want %d of each", rows, distinct, n)
	}
}

// heldWrites stands in for the store: the first write waits until release
// is closed, and every write's size is reported on started.
type heldWrites struct {
	started chan int
	release chan struct{}
	once    sync.Once
}

func (h *heldWrites) write(ctx context.Context, recs []*store.AuditRecord) error {
	h.started <- len(recs)
	first := false
	h.once.Do(func() { first = true })
	if first {
		<-h.release
	}
	return nil
}

// TestWriterOverlapsOnlyLargeBatches holds the first batch's write and
// checks that a small batch waits for it to end, while a batch that
// reaches audit.OverlapBatch records is written alongside it.
func TestWriterOverlapsOnlyLargeBatches(t *testing.T) {
	ctx := context.Background()
	h := &heldWrites{started: make(chan int, 16), release: make(chan struct{})}
	w := audit.NewWriterWith(h.write, 2, 512, 4096)
	var wg sync.WaitGroup
	errs := make(chan error, 1+audit.OverlapBatch)
	appendN := func(from, n int) {
		for i := from; i < from+n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- w.Append(ctx, record(i))
			}()
		}
	}
	appendN(0, 1)
	if got := <-h.started; got != 1 {
		t.Fatalf("first write has %d records, want 1", got)
	}
	// A few records while the first write is held: too few to overlap.
	small := audit.OverlapBatch / 4
	appendN(1, small)
	select {
	case got := <-h.started:
		t.Fatalf("a batch of %d records was written while another was in flight (overlap needs %d)", got, audit.OverlapBatch)
	case <-time.After(300 * time.Millisecond):
	}
	// Enough more to reach OverlapBatch: that batch goes at once.
	appendN(1+small, audit.OverlapBatch-small)
	select {
	case got := <-h.started:
		if got < audit.OverlapBatch {
			t.Fatalf("overlapping batch has %d records, want at least %d", got, audit.OverlapBatch)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("a batch of %d records waited for the held write", audit.OverlapBatch)
	}
	close(h.release)
	wg.Wait()
	w.Close()
	close(errs)
	n := 0
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1+audit.OverlapBatch {
		t.Fatalf("%d appends returned, want %d", n, 1+audit.OverlapBatch)
	}
}

// TestWriterSmallBatchGoesWhenWriteEnds checks that records held back
// behind a write in flight are written as soon as that write ends, by the
// flusher that gathered them.
func TestWriterSmallBatchGoesWhenWriteEnds(t *testing.T) {
	ctx := context.Background()
	h := &heldWrites{started: make(chan int, 16), release: make(chan struct{})}
	w := audit.NewWriterWith(h.write, 2, 512, 4096)
	defer w.Close()
	done := make(chan error, 4)
	go func() { done <- w.Append(ctx, record(0)) }()
	<-h.started
	for i := 1; i <= 3; i++ {
		go func() { done <- w.Append(ctx, record(i)) }()
	}
	time.Sleep(100 * time.Millisecond) // let the three queue behind the held write
	close(h.release)
	select {
	case got := <-h.started:
		if got != 3 {
			t.Fatalf("the held-back batch has %d records, want 3", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held-back records were not written after the write in flight ended")
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestWriterFailsClosed: when a batch cannot be written, every call in it
// is told, as an *audit.Error.
func TestWriterFailsClosed(t *testing.T) {
	boom := errors.New("disk full")
	w := audit.NewWriterWith(func(context.Context, []*store.AuditRecord) error { return boom }, 2, 512, 4096)
	defer w.Close()
	err := w.Append(context.Background(), record(0))
	var ae *audit.Error
	if !errors.As(err, &ae) || !errors.Is(err, boom) {
		t.Fatalf("Append = %v, want an *audit.Error wrapping %v", err, boom)
	}
}
