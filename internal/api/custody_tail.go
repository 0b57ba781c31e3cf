package api

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/sinergi-id/sinergi/internal/store"
)

// custodyTail holds the newest ordered custody events of the process in
// memory: read from the database once for every watcher, instead of once
// by each, so that a thousand watchers woken by one event cost one query,
// not thousands. A watcher whose window the tail does not cover (one
// resuming from far behind) reads the database itself, as before.
//
// An event's subject is its record's identity when the tail read it,
// moments after the event was ordered (a watcher reading the database
// sees the identity at its read).
type custodyTail struct {
	st  *store.Store
	max int

	refresh sync.Mutex // one read of the database at a time
	// started counts reads begun; served is the number of the newest
	// read completed. A watcher woken after read n began needs read n+1.
	started, served atomic.Int64

	mu   sync.RWMutex
	ring []store.SettledEvent // in order of position, after start up to head
	// start: the ring holds every event after start, up to head.
	start, head int64
}

// custodyTailSize is how many events the tail keeps.
const custodyTailSize = 4096

func newCustodyTail(st *store.Store, max int) *custodyTail {
	return &custodyTail{st: st, max: max, start: -1, head: -1}
}

// Refresh brings the tail up to the events ordered before it was called:
// a read begun later than the call, by this caller or another waiting with
// it, serves them all.
func (t *custodyTail) Refresh(ctx context.Context) error {
	want := t.started.Load() + 1
	t.refresh.Lock()
	defer t.refresh.Unlock()
	if t.served.Load() >= want {
		return nil
	}
	n := t.started.Add(1)
	head, err := t.st.CustodyEventsHead(ctx)
	if err != nil {
		return err
	}
	t.mu.RLock()
	from := t.head
	t.mu.RUnlock()
	if head.Seq > from {
		reset := from < 0 || head.Seq-from > int64(t.max)
		if reset {
			from = max(head.Seq-int64(t.max), 0)
		}
		events, err := t.st.CustodyEventsAfter(ctx, store.EventPosition{Seq: from, V: head.V}, head.Seq, store.EventFilter{All: true})
		if err != nil {
			return err
		}
		t.mu.Lock()
		if reset {
			t.ring, t.start = nil, from
		}
		t.ring = append(t.ring, events...)
		if over := len(t.ring) - t.max; over > 0 {
			t.start = t.ring[over-1].Position.Seq
			t.ring = append([]store.SettledEvent(nil), t.ring[over:]...)
		}
		t.head = head.Seq
		t.mu.Unlock()
	}
	t.served.Store(n)
	return nil
}

// Head is the position of the newest event the tail has read (-1 before
// its first read).
func (t *custodyTail) Head() int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.head
}

// Window returns the events after pos up to upto, and whether the tail
// holds all of them (if not, the caller reads the database).
func (t *custodyTail) Window(pos, upto int64) ([]store.SettledEvent, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.start < 0 || pos < t.start || upto > t.head {
		return nil, false
	}
	lo := sort.Search(len(t.ring), func(i int) bool { return t.ring[i].Position.Seq > pos })
	hi := sort.Search(len(t.ring), func(i int) bool { return t.ring[i].Position.Seq > upto })
	return t.ring[lo:hi:hi], true
}
