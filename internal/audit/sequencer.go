package audit

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sinergi-id/sinergi/internal/store"
)

// sequencerLock is the advisory lock key held by the one sequencer of a database.
const sequencerLock = 0x53494e45524749 // "SINERGI"

// Sequencer links committed audit records into the hash chain. Several
// server processes may share a database: each runs a Sequencer, and the one
// holding the advisory lock does the work; the others wait to take over.
// The leader reads and writes the chain on the connection that holds the
// lock, so if that connection is lost, so is the leader's power to write.
type Sequencer struct {
	st     *store.Store
	signer *Signer
	log    *slog.Logger
	// Interval between passes; CheckpointEvery between checkpoints.
	Interval        time.Duration
	CheckpointEvery time.Duration
	BatchSize       int
	// CleanEvery is how often, while records come in, the leader merges the
	// pending lists of the subjects index (store.CleanAuditPending), so that
	// the audit writer's inserts never have to.
	CleanEvery time.Duration
	// Maintenance, when set, runs when leadership is taken and then daily,
	// in the leader only (partition upkeep and retention).
	Maintenance func(context.Context) error
}

// Signer is the checkpoint signer.
func (s *Sequencer) Signer() *Signer { return s.signer }

// NewSequencer returns a sequencer; call Run.
func NewSequencer(st *store.Store, signer *Signer, log *slog.Logger) *Sequencer {
	return &Sequencer{st: st, signer: signer, log: log, Interval: 100 * time.Millisecond,
		CheckpointEvery: time.Minute, BatchSize: 5000, CleanEvery: time.Second}
}

// Run sequences until ctx ends.
func (s *Sequencer) Run(ctx context.Context) {
	for ctx.Err() == nil {
		err := s.lead(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.Warn("audit sequencer", "error", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (s *Sequencer) lead(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, s.st.Pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, int64(sequencerLock)).Scan(&got); err != nil {
		return err
	}
	if !got {
		return nil // someone else leads; try again later
	}
	s.log.Info("audit sequencer leading")
	head, err := chainHead(ctx, conn)
	if err != nil {
		return err
	}
	lastCheckpoint := time.Now()
	checkpointed := head.Seq
	var lastMaintenance time.Time
	var lastClean time.Time
	cleaned := int64(-1) // the chain's length at the last clean
	cleanFailed := false
	for {
		if s.Maintenance != nil && time.Since(lastMaintenance) >= 24*time.Hour {
			lastMaintenance = time.Now()
			if err := s.Maintenance(ctx); err != nil {
				s.log.Warn("audit maintenance", "error", err)
			}
		}
		n, err := s.pass(ctx, conn, &head)
		if err != nil {
			return err
		}
		if head.Seq != cleaned && time.Since(lastClean) >= s.CleanEvery {
			// A failure costs the writer its long inserts again, not the
			// trail anything: it is said once, and the chain goes on.
			pages, err := store.CleanAuditPending(ctx, conn)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if !cleanFailed {
					s.log.Warn("audit subjects index: merging the pending list failed; inserts will merge it themselves", "error", err)
				}
				cleanFailed = true
			} else {
				cleanFailed = false
				if pages > 0 {
					s.log.Debug("audit subjects index: pending list merged", "pages", pages)
				}
			}
			cleaned, lastClean = head.Seq, time.Now()
		}
		if head.Seq > checkpointed && time.Since(lastCheckpoint) >= s.CheckpointEvery {
			if err := insertCheckpoint(ctx, conn, s.signer.Checkpoint(head.Seq, head.Hash, time.Now(), "periodic")); err != nil {
				return err
			}
			checkpointed, lastCheckpoint = head.Seq, time.Now()
		}
		if n == s.BatchSize {
			continue // more waiting
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(s.Interval):
		}
	}
}

func chainHead(ctx context.Context, conn *pgx.Conn) (store.ChainHead, error) {
	h, ok, err := store.AuditChainHead(ctx, conn)
	if err == nil && !ok {
		h.Hash = Genesis
	}
	return h, err
}

// pass chains one batch of settled records and returns how many.
func (s *Sequencer) pass(ctx context.Context, conn *pgx.Conn, head *store.ChainHead) (int, error) {
	horizon, err := store.SettledHorizon(ctx, conn)
	if err != nil {
		return 0, fmt.Errorf("settled horizon: %w", err)
	}
	recs, err := store.UnsequencedAudit(ctx, conn, head.TxID, head.ID, horizon, s.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("read unsequenced: %w", err)
	}
	if len(recs) == 0 {
		return 0, nil
	}
	links := make([]store.ChainLink, len(recs))
	h := *head
	for i, r := range recs {
		h.Seq++
		h.Hash = Link(h.Hash, r)
		h.TxID, h.ID = r.TxID, r.ID
		links[i] = store.ChainLink{Seq: h.Seq, RecordID: r.ID, RecordAt: r.At, TxID: r.TxID, Hash: h.Hash}
	}
	if err := store.AppendChain(ctx, conn, links); err != nil {
		return 0, fmt.Errorf("append chain: %w", err)
	}
	*head = h
	return len(recs), nil
}

func insertCheckpoint(ctx context.Context, conn *pgx.Conn, c store.Checkpoint) error {
	return store.AppendCheckpoint(ctx, conn, c)
}
