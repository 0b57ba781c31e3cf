package fanout

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/sinergi-id/sinergi/internal/store"
)

// Sequencer gives committed rows their positions in a delivery order (see
// store.CustodyEventPasses): every server process runs one, the one
// holding the lock does the work on the lock's connection, woken by the
// notification the rows' writers send and at least every Safety.
type Sequencer struct {
	Name  string
	Store *store.Store
	// LockKey is the advisory lock of the one leader.
	LockKey int64
	// Pass orders rows on db, up to Batch of each kind it orders, and
	// returns how many: Batch or more means more may be waiting.
	Pass  func(ctx context.Context, db store.DB, batch int) (int, error)
	Batch int
	// Wake is notified when rows to order are committed.
	Wake   *Sub
	Safety time.Duration
	Log    *slog.Logger
}

// Run orders rows until ctx ends, whenever this process leads.
func (q *Sequencer) Run(ctx context.Context) {
	defer q.Wake.Close()
	for ctx.Err() == nil {
		err := q.Store.Lead(ctx, q.LockKey, false, q.lead)
		if ctx.Err() != nil {
			return
		}
		if err != nil && !errors.Is(err, store.ErrNotLeader) {
			q.Log.Warn(q.Name+" sequencer", "error", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (q *Sequencer) lead(ctx context.Context, db store.DB) error {
	q.Log.Info(q.Name + " sequencer leading")
	t := time.NewTicker(q.Safety)
	defer t.Stop()
	for {
		// A pass commits or rolls back before the sequencer stops.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		n, err := q.Pass(pctx, db, q.Batch)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if n >= q.Batch {
			continue // more are waiting
		}
		select {
		case <-ctx.Done():
			return nil
		case <-q.Wake.C:
		case <-t.C:
		}
	}
}
