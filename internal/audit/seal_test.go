package audit_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/store"
)

// TestSealInTransactionsHoldingEveryConnection: when every connection of
// the pool is held by a transaction whose record needs a new block of
// ids, the block is reserved on the transaction's own connection; asking
// the pool for another would wait for ever (the bench's court appearances
// at 16 connections hung that way for minutes).
func TestSealInTransactionsHoldingEveryConnection(t *testing.T) {
	ctx := context.Background()
	d := pgtest.Fresh(t)
	st, err := store.Open(ctx, d.App, store.Options{MaxConns: 2, IntegratorURL: d.Integrator})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	const n = 4 // more transactions than connections: two wait for one
	sealer := audit.NewSealer(testKeys(t), st)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var started, wg sync.WaitGroup
	started.Add(2)
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tx, err := st.Pool.Begin(wctx)
			if err != nil {
				errs <- err
				return
			}
			defer tx.Rollback(context.Background()) //nolint:errcheck
			if i < 2 {
				// Both connections are held before either record is sealed.
				started.Done()
				started.Wait()
			}
			e := sealer.NewEntry("/test/Seal", "seal-test")
			e.SetCaller("polres-metro", "01")
			e.Allow("test")
			if err := e.WriteTx(wctx, tx); err != nil {
				errs <- err
				return
			}
			errs <- tx.Commit(wctx)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatal("a transaction waited for a connection that every other transaction held")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	var rows int
	if err := st.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_records WHERE method = '/test/Seal'`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != n {
		t.Fatalf("%d records, want %d", rows, n)
	}
}
