package audit

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sinergi-id/sinergi/internal/store"
)

// Writer commits audit records in groups: the records of concurrent calls
// are written together, one COPY and one commit per batch, and each call
// waits for the commit of its own batch. The queue is bounded; when it is
// full a call waits for room. A record is never dropped.
type Writer struct {
	st       *store.Store
	queue    chan *pending
	maxBatch int
	wg       sync.WaitGroup
	closeMu  sync.RWMutex
	closed   bool
	// Timeout bounds one batch's write: past it, the batch's calls fail closed.
	Timeout time.Duration
}

type pending struct {
	rec  *store.AuditRecord
	done chan error
}

// Flushers is how many batches a server's writer commits at once. One is
// enough: a batch is one statement, and while it commits the next batch
// gathers. More flushers made batches of one or two records, a commit each,
// and cost the database more than they saved in waiting (measured with
// make bench at 64 callers: 1 flusher 4 848/s, 2 flushers 4 664/s,
// 4 flushers 3 824/s).
const Flushers = 1

// ErrClosed is returned after Close.
var ErrClosed = errors.New("audit writer closed")

// NewWriter starts flushers committing batches of at most maxBatch records.
func NewWriter(st *store.Store, flushers, maxBatch, queue int) *Writer {
	w := &Writer{st: st, queue: make(chan *pending, queue), maxBatch: maxBatch, Timeout: 5 * time.Second}
	for range flushers {
		w.wg.Add(1)
		go w.flush()
	}
	return w
}

// Append makes rec durable, returning once its batch has committed.
func (w *Writer) Append(ctx context.Context, rec *store.AuditRecord) error {
	p := &pending{rec: rec, done: make(chan error, 1)}
	w.closeMu.RLock()
	if w.closed {
		w.closeMu.RUnlock()
		return ErrClosed
	}
	select {
	case w.queue <- p:
	case <-ctx.Done():
		w.closeMu.RUnlock()
		return ctx.Err()
	}
	w.closeMu.RUnlock()
	// Once queued the record is written whatever happens to the caller.
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Writer) flush() {
	defer w.wg.Done()
	batch := make([]*pending, 0, w.maxBatch)
	recs := make([]*store.AuditRecord, 0, w.maxBatch)
	for first := range w.queue {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < w.maxBatch {
			select {
			case p, ok := <-w.queue:
				if !ok {
					break fill
				}
				batch = append(batch, p)
			default:
				break fill
			}
		}
		recs = recs[:0]
		for _, p := range batch {
			recs = append(recs, p.rec)
		}
		ctx, cancel := context.WithTimeout(context.Background(), w.Timeout)
		err := w.st.AppendAuditBatch(ctx, recs)
		cancel()
		if err != nil {
			err = &Error{Err: err}
		}
		for _, p := range batch {
			p.done <- err
		}
	}
}

// Close stops taking records and waits until every queued one is written.
func (w *Writer) Close() {
	w.closeMu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.closeMu.Unlock()
	w.wg.Wait()
}
