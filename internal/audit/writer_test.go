package audit_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

var db *pgtest.DB

func TestMain(m *testing.M) { pgtest.Main(m, &db) }

// testKeys are audit keys made for a test.
func testKeys(t testing.TB) *audit.Keys {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := audit.NewKeys(priv, "test.sinergi/audit")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// counterSealer seals with ids from a counter, for writers without a store.
func counterSealer(t testing.TB) *audit.Sealer {
	var mu sync.Mutex
	next := int64(1)
	return audit.NewSealerWith(testKeys(t), func(context.Context) (int64, error) {
		mu.Lock()
		defer mu.Unlock()
		first := next
		next += store.AuditIDBlock
		return first, nil
	})
}

// appStore opens a fresh database as the server's role.
func appStore(t *testing.T) *store.Store {
	t.Helper()
	d := pgtest.Fresh(t)
	st, err := store.Open(context.Background(), d.App, store.Options{MaxConns: 8, IntegratorURL: d.Integrator})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// appWriter is the server's writer on st (two flushers), closed when the
// test ends if the test has not closed it.
func appWriter(t *testing.T, st *store.Store) *audit.Writer {
	t.Helper()
	w := audit.NewWriter(st, audit.NewSealer(testKeys(t), st), audit.Flushers, 512, 4096)
	t.Cleanup(w.Close)
	return w
}

// appendEach appends mk(i) for each i of [from, to), all at once, and
// returns each append's error.
func appendEach(ctx context.Context, w *audit.Writer, from, to int, mk func(i int) *store.AuditRecord) []error {
	errs := make([]error, to-from)
	var wg sync.WaitGroup
	for i := from; i < to; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i-from] = w.Append(ctx, mk(i))
		}()
	}
	wg.Wait()
	return errs
}

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
	st := appStore(t)
	w := appWriter(t, st)
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
	w := audit.NewWriterWith(h.write, counterSealer(t), 2, 512, 4096)
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
	w := audit.NewWriterWith(h.write, counterSealer(t), 2, 512, 4096)
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
	w := audit.NewWriterWith(func(context.Context, []*store.AuditRecord) error { return boom }, counterSealer(t), 2, 512, 4096)
	defer w.Close()
	err := w.Append(context.Background(), record(0))
	var ae *audit.Error
	if !errors.As(err, &ae) || !errors.Is(err, boom) {
		t.Fatalf("Append = %v, want an *audit.Error wrapping %v", err, boom)
	}
}

// TestWriterIsolatesARefusedRecord: when the database refuses one record
// of a batch, only that call fails; every other call in the batch is
// written, and the refused call is recorded by a record of its failure.
func TestWriterIsolatesARefusedRecord(t *testing.T) {
	ctx := context.Background()
	st := appStore(t)
	w := appWriter(t, st)
	// Hold the flushers so that every record lands in one batch.
	const n = 64
	errs := appendEach(ctx, w, 0, n, func(i int) *store.AuditRecord {
		r := record(i)
		if i == 17 {
			// A time the database refuses (not now): as a record
			// carrying bytes the table cannot hold would be.
			r.At = time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		return r
	})
	w.Close()
	for i, err := range errs {
		var ae *audit.Error
		switch {
		case i == 17 && !errors.As(err, &ae):
			t.Errorf("the refused record's call: %v, want an *audit.Error", err)
		case i != 17 && err != nil:
			t.Errorf("call %d failed with the refused one: %v", i, err)
		}
	}
	var good, subs int
	if err := st.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status_code = 'OK'),
			count(*) FILTER (WHERE request_id = 'writer-test-17' AND decision = 'REFUSED' AND reason LIKE 'audit record refused by the database%')
		FROM audit_records WHERE method = '/test/Writer'`).Scan(&good, &subs); err != nil {
		t.Fatal(err)
	}
	if good != n-1 || subs != 1 {
		t.Fatalf("%d records written and %d records of the refusal; want %d and 1", good, subs, n-1)
	}
}

// TestWriterBoundsHostileFields: a record carrying what no text column
// holds (NUL bytes, invalid UTF-8) or far too much is written, escaped and
// cut to a few KB with the SHA-256 of what was sent, beside ordinary ones.
func TestWriterBoundsHostileFields(t *testing.T) {
	ctx := context.Background()
	st := appStore(t)
	w := appWriter(t, st)
	huge := strings.Repeat("A", 10<<20)
	hostile := record(1)
	hostile.OperatorID, hostile.CaseReference, hostile.Reason = "8505\x001234", huge, "bad \xff\xfe utf-8 \x00"
	hostile.Subjects = make([]string, 100000)
	for i := range hostile.Subjects {
		hostile.Subjects[i] = "custody/x"
	}
	if err := w.Append(ctx, hostile); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(ctx, record(2)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var op, cr, reason string
	var subjects, size int
	if err := st.Pool.QueryRow(ctx, `SELECT operator_id, case_reference, reason, cardinality(subjects), pg_column_size(r.*)
		FROM audit_records r WHERE request_id = 'writer-test-1'`).Scan(&op, &cr, &reason, &subjects, &size); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(huge))
	if !strings.Contains(op, `\x00`) || !strings.Contains(cr, hex.EncodeToString(sum[:])) || len(cr) > 256 ||
		!strings.Contains(reason, `\xff`) || !strings.Contains(reason, "more subjects not kept") {
		t.Errorf("kept operator %q, case reference %q, reason %q", op, cr, reason)
	}
	if subjects > 2000 || size > 200<<10 {
		t.Errorf("the record keeps %d subjects in %d bytes", subjects, size)
	}
}

// TestWriterSettlesUnacknowledgedCommits: when a batch's commit is not
// acknowledged (the connection broke after the statement was sent), the
// writer asks the trail. A batch that committed lets its calls succeed,
// its records there once; one that did not fails its calls, and the trail
// gets, for each, a record that its call was answered UNAVAILABLE, naming
// the record whose commit was lost, so that should it land after all, the
// trail does not claim a reply that was never sent.
func TestWriterSettlesUnacknowledgedCommits(t *testing.T) {
	ctx := context.Background()
	st := appStore(t)
	sealer := audit.NewSealer(testKeys(t), st)
	lost := errors.New("unexpected EOF") // as a connection cut mid-commit: not a refusal, not safe to retry

	t.Run("committed", func(t *testing.T) {
		w := audit.NewWriterAsking(st, func(ctx context.Context, recs []*store.AuditRecord) error {
			if err := st.AppendAuditBatch(ctx, recs); err != nil {
				return err
			}
			return lost
		}, sealer)
		defer w.Close()
		r := record(9001)
		if err := w.Append(ctx, r); err != nil {
			t.Fatalf("Append of a batch that committed: %v", err)
		}
		var n int
		if err := st.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_records WHERE request_id = 'writer-test-9001'`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d records of the call (%v), want 1", n, err)
		}
	})

	t.Run("lost", func(t *testing.T) {
		var once sync.Once
		var first *store.AuditRecord
		w := audit.NewWriterAsking(st, func(ctx context.Context, recs []*store.AuditRecord) error {
			failed := false
			once.Do(func() { first, failed = recs[0], true })
			if failed {
				return lost // sent, never committed (yet)
			}
			return st.AppendAuditBatch(ctx, recs)
		}, sealer)
		defer w.Close()
		err := w.Append(ctx, record(9002))
		var ae *audit.Error
		if !errors.As(err, &ae) {
			t.Fatalf("Append of a batch that did not commit: %v, want an *audit.Error", err)
		}
		var status, reason string
		if err := st.Pool.QueryRow(ctx, `SELECT status_code, reason FROM audit_records WHERE request_id = 'writer-test-9002'`).Scan(&status, &reason); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("record %d was not acknowledged", first.ID)
		if status != "Unavailable" || !strings.Contains(reason, want) {
			t.Fatalf("the call's record: %s %q, want Unavailable saying %q", status, reason, want)
		}
		// The lost commit lands late: the trail holds both, and says the
		// reply was not sent.
		if err := st.AppendAuditBatch(ctx, []*store.AuditRecord{first}); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := st.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_records WHERE request_id = 'writer-test-9002'`).Scan(&n); err != nil || n != 2 {
			t.Fatalf("%d records of the call (%v), want the late one and its note", n, err)
		}
	})
}

// TestWriterLaterLaneWaits: records appended for later (deliveries to
// streams whose consumers are behind) fill at most a quarter of a batch,
// and a call's record queued behind thousands of them goes in the next
// batch written.
func TestWriterLaterLaneWaits(t *testing.T) {
	var mu sync.Mutex
	var batches [][]string
	hold := make(chan struct{})
	var once sync.Once
	w := audit.NewWriterWith(func(_ context.Context, recs []*store.AuditRecord) error {
		once.Do(func() { <-hold }) // the first write waits until everything is queued
		mu.Lock()
		defer mu.Unlock()
		var ids []string
		for _, r := range recs {
			ids = append(ids, r.RequestID)
		}
		batches = append(batches, ids)
		return nil
	}, counterSealer(t), 1, 8, 4096)
	ctx := context.Background()
	var wg sync.WaitGroup
	const later = 400
	for i := range later {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.AppendLater(ctx, record(i)); err != nil {
				t.Error(err)
			}
		}()
	}
	// Wait for the first batch's write to have started with later records
	// queued behind it, then append a call's record.
	time.Sleep(200 * time.Millisecond)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := w.Append(ctx, record(10000)); err != nil {
			t.Error(err)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	close(hold)
	wg.Wait()
	w.Close()
	mu.Lock()
	defer mu.Unlock()
	at := -1
	total := 0
	for i, b := range batches {
		total += len(b)
		for _, id := range b {
			if id == "writer-test-10000" {
				at = i
			}
		}
		later := 0
		for _, id := range b {
			if id != "writer-test-10000" {
				later++
			}
		}
		if later > 2 {
			t.Errorf("batch %d holds %d later records, want at most a quarter of 8", i, later)
		}
	}
	if total != later+1 {
		t.Fatalf("%d records written, want %d", total, later+1)
	}
	if at < 0 || at > 1 {
		t.Fatalf("the call's record went in batch %d of %d, want the one after the write under way", at, len(batches))
	}
}

// TestWriterCommitsCompanionsWithTheirRecords sends 64 records at once,
// each carrying a write (a hit notice); one carries a hit the database
// refuses (its record does not exist). Every other record commits with
// its notice; the refused one's call fails and none of its writes land.
func TestWriterCommitsCompanionsWithTheirRecords(t *testing.T) {
	ctx := context.Background()
	st := appStore(t)
	w := appWriter(t, st)
	const n, refused = 64, 23
	errs := appendEach(ctx, w, 0, n, func(i int) *store.AuditRecord {
		r := record(i)
		c := store.PresenceHits{Notices: []store.HitNoticeRow{{Audience: fmt.Sprint("companion-", i), Notice: &sinergiv1.HitNotice{
			Kind: sinergiv1.HitNoticeKind_HIT_NOTICE_KIND_HIT, Time: timestamppb.Now(), RequesterCode: "polres-metro"}}}}
		if i == refused {
			now := time.Now()
			c.Hits = []store.PresenceHit{{ID: store.NewReportID(now), Requester: "polres-metro", RecordID: store.NewReportID(now),
				Facility: "lapas-x", Province: "18", OperatorID: "op", Purpose: "INVESTIGATION", HitTime: now, ExpireTime: now.Add(time.Hour)}}
		}
		r.With = []store.Companion{c}
		return r
	})
	w.Close()
	for i, err := range errs {
		switch {
		case i == refused && err == nil:
			t.Errorf("the call whose write was refused succeeded")
		case i != refused && err != nil:
			t.Errorf("call %d failed with the refused one: %v", i, err)
		}
	}
	var notices, ownNotice, hits, ok int
	if err := st.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM hit_notices WHERE audience LIKE 'companion-%'),
			(SELECT count(*) FROM hit_notices WHERE audience = $1), (SELECT count(*) FROM presence_hits),
			(SELECT count(*) FROM audit_records WHERE method = '/test/Writer' AND status_code = 'OK')`, fmt.Sprint("companion-", refused)).
		Scan(&notices, &ownNotice, &hits, &ok); err != nil {
		t.Fatal(err)
	}
	if notices != n-1 || ownNotice != 0 || hits != 0 || ok != n-1 {
		t.Fatalf("%d notices (%d of the refused call), %d hits, %d OK records; want %d, 0, 0, %d", notices, ownNotice, hits, ok, n-1, n-1)
	}
}
