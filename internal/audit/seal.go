package audit

import (
	"context"
	"sync"
	"time"

	"github.com/sinergi-id/sinergi/internal/store"
)

// Sealer gives records their ids and MACs before they are written: the
// database accepts a record only with a MAC, and only a holder of Keys can
// make one that verifies. Ids come in blocks from the database's sequence
// (store.ReserveAuditIDs), so that a record's id is known, and MAC'd,
// before it is written; the id and time together are the record's key,
// so a copy of a sealed record cannot be written twice.
type Sealer struct {
	keys    *Keys
	pool    store.DB
	reserve func(context.Context, store.DB) (int64, error)

	mu     sync.Mutex
	blocks [][2]int64 // blocks of ids ours to give: first..last each
}

// NewSealer seals with keys, taking ids from st.
func NewSealer(keys *Keys, st *store.Store) *Sealer {
	return &Sealer{keys: keys, pool: st.Pool, reserve: store.ReserveAuditIDs}
}

// Keys are the sealer's keys.
func (s *Sealer) Keys() *Keys { return s.keys }

// Seal bounds r, gives it an id unless it has one, and MACs it.
func (s *Sealer) Seal(ctx context.Context, r *store.AuditRecord) error {
	return s.SealOn(ctx, nil, r)
}

// SealOn is Seal for a record written in a transaction on tx: should the
// sealer need a new block of ids, it reserves it on tx's connection. A
// transaction that waited for another connection from the pool while
// holding its own could wait for ever once every connection is held by a
// transaction doing the same.
func (s *Sealer) SealOn(ctx context.Context, tx store.DB, r *store.AuditRecord) error {
	Bound(r)
	if r.ID == 0 {
		id, err := s.id(ctx, tx)
		if err != nil {
			return err
		}
		r.ID = id
	}
	r.MAC = s.keys.RecordMAC(LeafBytes(r, false))
	return nil
}

// id gives the next id, reserving a block when none is left: on db when
// set, else on the pool. The reservation is made without the lock held,
// so that a caller waiting for a connection holds up no one who has one.
func (s *Sealer) id(ctx context.Context, db store.DB) (int64, error) {
	if db == nil {
		db = s.pool
	}
	for {
		if id, ok := s.take(); ok {
			return id, nil
		}
		first, err := s.reserve(ctx, db)
		if err != nil {
			return 0, err
		}
		s.mu.Lock()
		s.blocks = append(s.blocks, [2]int64{first, first + store.AuditIDBlock - 1})
		s.mu.Unlock()
	}
}

// take gives the next id of the blocks held, if any is left.
func (s *Sealer) take() (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.blocks) > 0 {
		b := &s.blocks[0]
		if b[0] <= b[1] {
			id := b[0]
			b[0]++
			return id, true
		}
		s.blocks = s.blocks[1:]
	}
	return 0, false
}

// NewEntry starts the record of an event that is not a call (an
// escalation, a command-line act), sealed by s when written in a
// transaction (Entry.WriteTx).
func (s *Sealer) NewEntry(method, requestID string) *Entry {
	e := NewEntry(method, requestID, time.Now())
	e.sealer = s
	return e
}
