package audit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc/codes"

	"github.com/sinergi-id/sinergi/internal/store"
)

// Writer commits audit records in groups: the records of concurrent calls
// are written together, one statement and one commit per batch, and each
// call waits for the commit of its own batch. The queue is bounded; when it
// is full a call waits for room. A record is never dropped.
type Writer struct {
	sealer *Sealer
	// queue takes the records of calls and of live streams' deliveries;
	// later, those of streams whose consumers are behind. A batch takes
	// from queue first, and at most a quarter of it from later: a
	// thousand stalled streams' records do not hold back a live one's.
	queue, later chan *pending
	// q and l are queue and later as the gathering flusher sees them
	// (nil once closed and drained); guarded by gatherMu.
	q, l     chan *pending
	maxBatch int
	wg       sync.WaitGroup
	closeMu  sync.RWMutex
	closed   bool
	// Timeout bounds one batch's write: past it, the batch's calls fail closed.
	Timeout time.Duration

	// write commits one batch: the store's AppendAuditBatch (tests hold
	// it back to see how batches are cut).
	write func(ctx context.Context, recs []*store.AuditRecord) error
	// committed tells whether a record is in the trail, after a write
	// whose commit was not acknowledged (nil: it cannot be told).
	committed func(ctx context.Context, at time.Time, id int64) (bool, error)
	gatherMu  sync.Mutex
	inflight  atomic.Int32
	// written has a token after a write ends, for a flusher that waits on it.
	written chan struct{}
	metrics atomic.Pointer[writerMetrics]
}

type pending struct {
	rec   *store.AuditRecord
	done  chan error
	later bool
}

// Flushers is how many batches a server's writer may commit at once, and
// OverlapBatch is how many records a batch needs before it is written while
// another is: a smaller one waits for that write to end and goes with
// whatever else came in meanwhile.
//
// One flusher left the database idle while its batch travelled and the
// callers it released came back, and at 64 writers every other batch was
// half the writers. Two flushers that each took whatever was queued cut
// batches of one or two records under the server's mixed load, a
// statement and a commit each, and slowed the calls. The overlap is kept
// for batches of 32 or more (the measurements: docs/performance.md).
const (
	Flushers     = 2
	OverlapBatch = 32
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("audit writer closed")

// NewWriter starts flushers committing batches of at most maxBatch records,
// each sealed by sealer.
func NewWriter(st *store.Store, sealer *Sealer, flushers, maxBatch, queue int) *Writer {
	w := newWriter(st.AppendAuditBatch, sealer, flushers, maxBatch, queue)
	w.committed = st.AuditRecordCommitted
	return w
}

func newWriter(write func(context.Context, []*store.AuditRecord) error, sealer *Sealer, flushers, maxBatch, queue int) *Writer {
	w := &Writer{sealer: sealer, queue: make(chan *pending, queue), later: make(chan *pending, queue), maxBatch: maxBatch, Timeout: 5 * time.Second,
		write: write, written: make(chan struct{}, 1)}
	w.q, w.l = w.queue, w.later
	for range flushers {
		w.wg.Add(1)
		go w.flush()
	}
	return w
}

// Sealer is the writer's sealer.
func (w *Writer) Sealer() *Sealer { return w.sealer }

// Append seals rec and makes it durable, returning once its batch has
// committed. If the database refuses rec itself, only this call fails,
// and a record of that failure is written in its place.
func (w *Writer) Append(ctx context.Context, rec *store.AuditRecord) error {
	return w.append(ctx, rec, false)
}

// AppendLater is Append for a record that may wait behind those of calls
// and live streams: a delivery to a stream whose consumer is behind.
func (w *Writer) AppendLater(ctx context.Context, rec *store.AuditRecord) error {
	return w.append(ctx, rec, true)
}

func (w *Writer) append(ctx context.Context, rec *store.AuditRecord, later bool) error {
	return w.appendAll(ctx, []*store.AuditRecord{rec}, later, nil)
}

// appendAll appends recs, sealed in their order (so their ids are), and
// returns once all have committed: the first error otherwise. When
// committed is set, committed[i] says whether recs[i] is durable (some may
// be when others failed).
func (w *Writer) appendAll(ctx context.Context, recs []*store.AuditRecord, later bool, committed []bool) error {
	ps := make([]*pending, 0, len(recs))
	var first error
	for _, rec := range recs {
		if err := w.sealer.Seal(ctx, rec); err != nil {
			first = &Error{Err: err}
			break
		}
		ps = append(ps, &pending{rec: rec, done: make(chan error, 1), later: later})
	}
	w.closeMu.RLock()
	if w.closed {
		w.closeMu.RUnlock()
		return ErrClosed
	}
	q := w.queue
	if later {
		q = w.later
	}
	queued := 0
	for _, p := range ps {
		select {
		case q <- p:
			queued++
			continue
		case <-ctx.Done():
		}
		break
	}
	w.closeMu.RUnlock()
	if queued < len(ps) && first == nil {
		first = ctx.Err()
	}
	// Once queued a record is written whatever happens to the caller.
	for i, p := range ps[:queued] {
		select {
		case err := <-p.done:
			if err != nil && first == nil {
				first = err
			}
			if err == nil && committed != nil {
				committed[i] = true
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return first
}

func (w *Writer) flush() {
	defer w.wg.Done()
	batch := make([]*pending, 0, w.maxBatch)
	recs := make([]*store.AuditRecord, 0, w.maxBatch)
	for {
		// One flusher gathers at a time, so that a batch waiting for the
		// other's write goes as soon as that write ends, before the
		// flusher that wrote it can start another.
		w.gatherMu.Lock()
		first, ok := w.take()
		if !ok {
			w.gatherMu.Unlock()
			return
		}
		batch = w.gather(append(batch[:0], first))
		w.inflight.Add(1)
		w.gatherMu.Unlock()
		recs = recs[:0]
		for _, p := range batch {
			recs = append(recs, p.rec)
		}
		ctx, cancel := context.WithTimeout(context.Background(), w.Timeout)
		start := time.Now()
		err := w.write(ctx, recs)
		took := time.Since(start)
		if err != nil && store.IsDataError(err) {
			// The database refused something the batch carried: find it,
			// so that only its own call fails.
			w.isolate(ctx, batch, err)
			batch, err = batch[:0], nil
		}
		cancel()
		if err != nil && store.IsAmbiguous(err) {
			// The batch may have committed: its calls succeed if it did,
			// and otherwise the trail says they were not answered.
			if w.settle(recs) {
				err = nil
			}
		}
		w.inflight.Add(-1)
		select {
		case w.written <- struct{}{}:
		default: // a token is already there
		}
		failed := 0
		if err != nil {
			err = &Error{Err: err}
			failed = len(batch)
		}
		w.observe(len(recs), took, failed)
		for _, p := range batch {
			p.done <- err
		}
	}
}

// settle decides what became of a batch (recs) whose commit was not
// acknowledged. The batch commits whole or not at all, so its first
// record tells: if it is in the trail, the calls succeed (their records
// are durable, so their replies may go). If it is not, or the database
// cannot say, the calls fail, and a record for each says that its call
// was answered UNAVAILABLE: should the batch commit after all (a commit
// the database had not finished), the trail does not claim a reply that
// was never sent.
func (w *Writer) settle(recs []*store.AuditRecord) bool {
	if len(recs) == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.Timeout)
	defer cancel()
	if w.committed != nil {
		for attempt := range 3 {
			ok, err := w.committed(ctx, recs[0].At, recs[0].ID)
			if err == nil && ok {
				return true
			}
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
			}
		}
	}
	notes := make([]*store.AuditRecord, 0, len(recs))
	for _, r := range recs {
		n := &store.AuditRecord{At: time.Now().Truncate(time.Microsecond), RequestID: r.RequestID, CallerCode: r.CallerCode,
			CertificateSerial: r.CertificateSerial, OperatorID: r.OperatorID, Method: r.Method, Purpose: r.Purpose,
			CaseReference: r.CaseReference, Decision: r.Decision, StatusCode: codes.Unavailable.String(),
			AgreementIDs: r.AgreementIDs, Subjects: r.Subjects,
			Reason: fmt.Sprintf("the commit of record %d was not acknowledged: its call was answered UNAVAILABLE and given nothing; if record %d is in the trail, what it records was not sent", r.ID, r.ID)}
		Bound(n)
		if err := w.sealer.Seal(ctx, n); err != nil {
			return false
		}
		notes = append(notes, n)
	}
	for attempt := range 3 {
		if err := w.write(ctx, notes); err == nil || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	return false
}

// isolate takes a batch the database refused for what it carried (err)
// apart, writing its halves and their halves until each record refused
// stands alone; those calls fail, each with a record of the failure
// written in its place (naming the call and why, carrying nothing the
// call sent). Every other call succeeds.
func (w *Writer) isolate(ctx context.Context, batch []*pending, err error) {
	if len(batch) == 1 {
		w.observe(0, 0, 1)
		batch[0].done <- &Error{Err: err}
		w.substitute(ctx, batch[0].rec, err)
		return
	}
	for _, half := range [][]*pending{batch[:len(batch)/2], batch[len(batch)/2:]} {
		recs := make([]*store.AuditRecord, len(half))
		for i, p := range half {
			recs[i] = p.rec
		}
		switch herr := w.write(ctx, recs); {
		case herr == nil:
			for _, p := range half {
				p.done <- nil
			}
		case store.IsDataError(herr):
			w.isolate(ctx, half, herr)
		default:
			w.observe(0, 0, len(half))
			for _, p := range half {
				p.done <- &Error{Err: herr}
			}
		}
	}
}

// substitute records that rec was refused: who called what, and the
// database's reason, in place of the record itself.
func (w *Writer) substitute(ctx context.Context, rec *store.AuditRecord, refused error) {
	code := "database error"
	var pe *pgconn.PgError
	if errors.As(refused, &pe) {
		code = pe.Code + " " + pe.Message
	}
	sub := &store.AuditRecord{At: time.Now().Truncate(time.Microsecond), RequestID: rec.RequestID, CallerCode: rec.CallerCode,
		CertificateSerial: rec.CertificateSerial, Method: rec.Method, Decision: Refused, StatusCode: codes.Unavailable.String(),
		Reason: fmt.Sprintf("audit record refused by the database (%s): the call failed and its record is this one", code)}
	if err := w.sealer.Seal(ctx, sub); err != nil {
		return
	}
	_ = w.write(ctx, []*store.AuditRecord{sub})
}

// take waits for the next record, from queue before later; false once
// both are closed and empty. The caller holds gatherMu.
func (w *Writer) take() (*pending, bool) {
	for w.q != nil || w.l != nil {
		if p, ok, got := w.poll(&w.q); got {
			if ok {
				return p, true
			}
			continue
		}
		select {
		case p, ok := <-w.q:
			if !ok {
				w.q = nil
				continue
			}
			return p, true
		case p, ok := <-w.l:
			if !ok {
				w.l = nil
				continue
			}
			return p, true
		}
	}
	return nil, false
}

// poll takes a record from *c without waiting: got says whether it did
// anything (a record, ok; or found *c closed, which it sets to nil).
func (w *Writer) poll(c *chan *pending) (p *pending, ok, got bool) {
	if *c == nil {
		return nil, false, false
	}
	select {
	case p, ok := <-*c:
		if !ok {
			*c = nil
		}
		return p, ok, true
	default:
		return nil, false, false
	}
}

// gather adds queued records to batch until it is full or the queues are
// empty (at most a quarter of a full batch from later); while another
// batch is being written and this one is smaller than OverlapBatch, it
// waits for more records or for that write to end.
func (w *Writer) gather(batch []*pending) []*pending {
	// The callers a write has just released, and others about to append,
	// are runnable: letting them run first puts their records in this
	// batch rather than in a second one of their own.
	runtime.Gosched()
	laterRoom := max(w.maxBatch/4, 1)
	for _, p := range batch {
		if p.later {
			laterRoom--
		}
	}
	for len(batch) < w.maxBatch {
		if p, ok, got := w.poll(&w.q); got {
			if ok {
				batch = append(batch, p)
			}
			continue
		}
		if laterRoom > 0 {
			if p, ok, got := w.poll(&w.l); got {
				if ok {
					batch = append(batch, p)
					laterRoom--
				}
				continue
			}
		}
		if w.inflight.Load() == 0 || len(batch) >= OverlapBatch || (w.q == nil && w.l == nil) {
			return batch
		}
		l := w.l
		if laterRoom <= 0 {
			l = nil
		}
		select {
		case p, ok := <-w.q:
			if !ok {
				w.q = nil
				continue
			}
			batch = append(batch, p)
		case p, ok := <-l:
			if !ok {
				w.l = nil
				continue
			}
			batch = append(batch, p)
			laterRoom--
		case <-w.written:
		}
	}
	return batch
}

// Close stops taking records and waits until every queued one is written.
func (w *Writer) Close() {
	w.closeMu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
		close(w.later)
	}
	w.closeMu.Unlock()
	w.wg.Wait()
}
