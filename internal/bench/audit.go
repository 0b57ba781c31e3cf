package bench

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/store"
)

func benchRecord(i int64) *store.AuditRecord {
	return &store.AuditRecord{At: time.Now().Truncate(time.Microsecond), RequestID: fmt.Sprint("bench-", i), CallerCode: "polres-metro",
		CertificateSerial: "bench", OperatorID: "85051234", Method: "/bench/Audit", Purpose: "OVERSIGHT", Decision: "ALLOWED",
		Reason: "bench", AgreementIDs: []string{"pks-2025-kemenimipas-polri-data"}, StatusCode: "OK", Subjects: []string{fmt.Sprint("custody/", i)}, LatencyMicros: 100}
}

// AuditGroupCommit compares audit records per second through the group
// commit writer with 64 writers against one INSERT-and-COMMIT per record
// with 64 writers, on the same database in the same run.
func AuditGroupCommit(ctx context.Context, e *Env, r *Results, d time.Duration) error {
	w := audit.NewWriter(e.App, e.Sealer, audit.Flushers, 512, 4096)
	group := Run(ctx, 64, d, func(ctx context.Context, _ int, i int64) error { return w.Append(ctx, benchRecord(i)) })
	w.Close()
	if group.FirstErr != nil {
		return fmt.Errorf("group commit: %w", group.FirstErr)
	}
	single := Run(ctx, 64, d, func(ctx context.Context, _ int, i int64) error {
		rec := benchRecord(i)
		if err := e.Sealer.Seal(ctx, rec); err != nil {
			return err
		}
		tx, err := e.Store.Pool.Begin(ctx)
		if err != nil {
			return err
		}
		if err := store.AppendAuditTx(ctx, tx, rec); err != nil {
			_ = tx.Rollback(ctx)
			return err
		}
		return tx.Commit(ctx)
	})
	if single.FirstErr != nil {
		return fmt.Errorf("single inserts: %w", single.FirstErr)
	}
	r.Add(Figure{Key: "audit_group_commit_rps", What: "audit records/s through group commit, 64 writers", Value: group.Rate(), Unit: "/s"})
	r.Add(Figure{Key: "audit_single_insert_rps", What: "audit records/s, one INSERT-and-COMMIT each, 64 writers", Value: single.Rate(), Unit: "/s"})
	r.Add(Figure{Key: "audit_group_commit_vs_single", What: "group commit / single inserts", Value: group.Rate() / single.Rate(), Op: ">=", Target: 5, Unit: "x"})
	return nil
}

// AuditVerify times `sinergi audit verify` over everything the run produced
// (Main has waited for the log to catch up).
func AuditVerify(ctx context.Context, e *Env, r *Results) error {
	rep, err := audit.Verify(ctx, e.Store, e.Keys, nil)
	if err != nil {
		return err
	}
	if !rep.OK {
		return fmt.Errorf("audit verify: %s", rep)
	}
	r.Add(Figure{Key: "audit_verify_leaves_per_s", What: fmt.Sprintf("audit verify over %d leaves", rep.Leaves),
		Value: float64(rep.Leaves) / rep.Elapsed.Seconds(), Unit: "/s"})
	return nil
}

// settle puts the database at rest before a step: it waits until the
// integrator has put every audit record in the log, so that a step is not
// measured while the log catches up on the records of the step before it,
// and then writes the steps' dirty pages out with a CHECKPOINT. Without
// it, the kernel wrote back the hundreds of megabytes that loading the
// people left dirty some thirty seconds into the measured steps, and every
// commit waiting behind that write-back stalled for 100-200 ms. A database
// role that may not CHECKPOINT (PostgreSQL 15: superuser or pg_checkpoint)
// only loses that part, and is told so once.
func settle(ctx context.Context, e *Env) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var n int64
		if err := e.Store.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_queue`).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d audit records still not in the log", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := e.Store.Pool.Exec(ctx, "CHECKPOINT"); err != nil && !e.checkpointRefused {
		e.checkpointRefused = true
		fmt.Fprintf(os.Stderr, "bench: steps start without a CHECKPOINT (%v); earlier steps' write-back may stall later ones\n", err)
	}
	return nil
}

// Settle is settle, for the other benchmarks (make bench-scale).
func Settle(ctx context.Context, e *Env) error { return settle(ctx, e) }

// StopServer stops the server StartServer started.
func (e *Env) StopServer() { e.stopServer() }
