package audit_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/store"
)

// TestInclusionProofsBeyondStoredLevels builds a log of 1 300 records
// through the server's writer and integrator, in two runs of the
// integrator (the second resuming from the stored tree, past several
// stored subtrees of 256 leaves), and verifies an inclusion proof of
// every record against the newest checkpoint.
func TestInclusionProofsBeyondStoredLevels(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := appStore(t)
	keys := testKeys(t)
	l := audit.NewLog(st, keys)
	// Two runs of the integrator: the second resumes the log from what
	// the first stored, as a restarted server (or the bench's generated
	// log) does.
	var cp store.LogCheckpoint
	for _, upto := range []int{1000, 1300} {
		w := audit.NewWriter(st, audit.NewSealer(keys, st), audit.Flushers, 512, 4096)
		if err := errors.Join(appendEach(ctx, w, int(cp.TreeSize), upto, record)...); err != nil {
			t.Fatal(err)
		}
		w.Close()
		ictx, stop := context.WithCancel(ctx)
		in := audit.NewIntegrator(st, keys, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		done := make(chan struct{})
		go func() { in.Run(ictx); close(done) }()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			var err error
			if cp, err = l.Latest(ctx); err == nil && cp.TreeSize >= int64(upto) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the log reached %d records, want %d (%v)", cp.TreeSize, upto, err)
			}
		}
		stop()
		<-done
	}
	rows, err := st.Pool.Query(ctx, `SELECT id FROM audit_records WHERE method = '/test/Writer' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, id := range ids {
		p, err := l.Inclusion(ctx, id, cp.TreeSize)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, uint64(cp.TreeSize), audit.LeafHash(p.Leaf), p.Hashes, cp.RootHash); err != nil {
			if bad++; bad <= 3 {
				t.Errorf("record %d (leaf %d of %d): %v", id, p.Index, cp.TreeSize, err)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d inclusion proofs do not verify", bad, len(ids))
	}
}
