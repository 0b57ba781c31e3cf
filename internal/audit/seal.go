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
	reserve func(context.Context) (int64, error)

	mu         sync.Mutex
	next, last int64 // ids next..last are ours to give
}

// NewSealer seals with keys, taking ids from st.
func NewSealer(keys *Keys, st *store.Store) *Sealer {
	return &Sealer{keys: keys, reserve: st.ReserveAuditIDs}
}

// Keys are the sealer's keys.
func (s *Sealer) Keys() *Keys { return s.keys }

// Seal bounds r, gives it an id unless it has one, and MACs it.
func (s *Sealer) Seal(ctx context.Context, r *store.AuditRecord) error {
	Bound(r)
	if r.ID == 0 {
		id, err := s.id(ctx)
		if err != nil {
			return err
		}
		r.ID = id
	}
	r.MAC = s.keys.RecordMAC(LeafBytes(r, false))
	return nil
}

func (s *Sealer) id(ctx context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next == 0 || s.next > s.last {
		first, err := s.reserve(ctx)
		if err != nil {
			return 0, err
		}
		s.next, s.last = first, first+store.AuditIDBlock-1
	}
	id := s.next
	s.next++
	return id, nil
}

// NewEntry starts the record of an event that is not a call (an
// escalation, a command-line act), sealed by s when written in a
// transaction (Entry.WriteTx).
func (s *Sealer) NewEntry(method, requestID string) *Entry {
	e := NewEntry(method, requestID, time.Now())
	e.sealer = s
	return e
}
