package audit

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/merkle/compact"

	"github.com/sinergi-id/sinergi/internal/store"
)

// integratorLock is the advisory lock key held by the one integrator of a
// database.
const integratorLock = 0x53494e45524749 // "SINERGI"

// Integrator appends committed audit records to the log. Several server
// processes may share a database: each runs an Integrator, and the one
// holding the advisory lock does the work on that lock's connection, as
// the integrator role; the others wait to take over.
//
// It takes whatever records have committed, in one transaction per batch:
// it removes them from the queue, appends their leaves and the tree nodes
// they complete, and replaces the newest signed checkpoint. It waits for
// no other transaction, so a long one elsewhere in the database delays
// nothing. A record whose MAC does not verify (written outside the
// server's write path) is refused and recorded as such, never put in the
// log.
//
// On taking the lead it rebuilds the log's compact range from the stored
// tree and checks it against the newest checkpoint, which it signed: if
// they disagree, or the log has leaves and no checkpoint, someone changed
// the database, and it refuses to sign anything until an operator looks
// (`sinergi audit verify`). Calls go on being audited meanwhile; their
// records wait in the queue.
type Integrator struct {
	st   *store.Store
	keys *Keys
	log  *slog.Logger
	// Interval between passes; HistoryEvery between kept checkpoints.
	Interval     time.Duration
	HistoryEvery time.Duration
	BatchSize    int
	// CleanEvery is how often, while records come in, the leader merges
	// the pending lists of the subjects index (store.CleanAuditPending), so
	// that the audit writer's inserts never have to.
	CleanEvery time.Duration
	// Maintenance, when set, runs when leadership is taken and then daily,
	// in the leader only and on its connection (partitions, retention).
	Maintenance func(context.Context, store.DB) error

	metrics *Metrics
}

// NewIntegrator returns an integrator; call Run.
func NewIntegrator(st *store.Store, keys *Keys, log *slog.Logger, m *Metrics) *Integrator {
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Integrator{st: st, keys: keys, log: log, Interval: 100 * time.Millisecond, HistoryEvery: time.Minute,
		BatchSize: 2000, CleanEvery: time.Second, metrics: m}
}

// Run integrates until ctx ends.
func (in *Integrator) Run(ctx context.Context) {
	for ctx.Err() == nil {
		err := in.st.Lead(ctx, integratorLock, true, in.lead)
		if ctx.Err() != nil {
			return
		}
		if err != nil && !errors.Is(err, store.ErrNotLeader) {
			in.log.Warn("audit integrator", "error", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// passTimeout bounds one pass's transaction.
const passTimeout = 30 * time.Second

// ErrTampered is a log whose stored tree does not match its newest
// checkpoint.
var ErrTampered = errors.New("audit log does not match its newest checkpoint")

type logState struct {
	rng         *compact.Range
	lastHistory time.Time
}

func (in *Integrator) lead(ctx context.Context, db store.DB) error {
	st, err := in.load(ctx, db)
	if err != nil {
		if errors.Is(err, ErrTampered) {
			in.metrics.tampered.Set(1)
			in.log.Error("audit integrator refuses to sign: run `sinergi audit verify`", "error", err)
		}
		return err
	}
	in.metrics.tampered.Set(0)
	in.log.Info("audit integrator leading", "tree_size", st.rng.End())
	var lastMaintenance, lastClean time.Time
	cleanedAt := uint64(1<<64 - 1)
	cleanFailed := false
	for {
		if in.Maintenance != nil && time.Since(lastMaintenance) >= 24*time.Hour {
			lastMaintenance = time.Now()
			if err := in.Maintenance(ctx, db); err != nil {
				in.log.Warn("audit maintenance", "error", err)
			}
		}
		// A pass is not cut short when ctx ends (shutdown): it commits or
		// rolls back before the integrator stops, so that nothing changes
		// the log after the process has stopped.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), passTimeout)
		n, err := in.pass(pctx, db, st)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if st.rng.End() != cleanedAt && time.Since(lastClean) >= in.CleanEvery {
			// A failure costs the writer its long inserts again, not the
			// log anything: it is said once, and the log goes on.
			pages, err := store.CleanAuditPending(ctx, db)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if !cleanFailed {
					in.log.Warn("audit subjects index: merging the pending list failed; inserts will merge it themselves", "error", err)
				}
				cleanFailed = true
			} else {
				cleanFailed = false
				if pages > 0 {
					in.log.Debug("audit subjects index: pending list merged", "pages", pages)
				}
			}
			cleanedAt, lastClean = st.rng.End(), time.Now()
		}
		if n == in.BatchSize {
			continue // more waiting
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(in.Interval):
		}
	}
}

// load rebuilds the compact range of the stored log and checks it
// against the newest checkpoint.
func (in *Integrator) load(ctx context.Context, db store.DB) (*logState, error) {
	size, err := store.LogSize(ctx, db)
	if err != nil {
		return nil, err
	}
	rng, err := treeReader{db: db}.rangeAt(ctx, uint64(size))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTampered, err)
	}
	cp, err := store.LatestLogCheckpoint(ctx, db)
	switch {
	case errors.Is(err, store.ErrNotFound) && size == 0:
		return &logState{rng: rng}, nil
	case errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("%w: the log has %d leaves and no checkpoint", ErrTampered, size)
	case err != nil:
		return nil, err
	}
	c, _, err := OpenCheckpoint([]byte(cp.Note), in.keys.Verifier())
	if err != nil {
		return nil, fmt.Errorf("%w: newest checkpoint: %v", ErrTampered, err)
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		return nil, err
	}
	if c.Size != uint64(size) || !hmac.Equal(c.Root, root) {
		return nil, fmt.Errorf("%w: it states %d leaves, the stored tree has %d", ErrTampered, c.Size, size)
	}
	in.metrics.treeSize.Set(float64(size))
	return &logState{rng: rng}, nil
}

// pass integrates one batch of queued records and returns how many it
// took from the queue.
func (in *Integrator) pass(ctx context.Context, db store.DB, st *logState) (int, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	recs, err := store.TakeQueuedAudit(ctx, tx, in.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("take queued records: %w", err)
	}
	if len(recs) == 0 {
		return 0, nil
	}
	rng, err := factory.NewRange(0, st.rng.End(), append([][]byte(nil), st.rng.Hashes()...))
	if err != nil {
		return 0, err
	}
	var leaves []store.Leaf
	var nodes []store.Node
	visit := func(id compact.NodeID, h []byte) {
		if StoredLevel(id.Level) {
			nodes = append(nodes, store.Node{Level: int(id.Level), Index: int64(id.Index), Hash: h})
		}
	}
	rejected := 0
	for _, r := range recs {
		if !in.keys.Authentic(r) {
			rejected++
			in.log.Error("audit record refused: its MAC does not verify (written outside the server's write path)",
				"record_id", r.ID, "at", r.At)
			if err := store.RejectAudit(ctx, tx, r, "MAC does not verify: written outside the server's write path"); err != nil {
				return 0, err
			}
			continue
		}
		idx := int64(rng.End())
		h := LeafHash(LeafBytes(r, true))
		leaves = append(leaves, store.Leaf{Index: idx, RecordID: r.ID, RecordAt: r.At, Hash: h, MAC: in.keys.LeafMAC(idx, h)})
		if err := rng.Append(h, visit); err != nil {
			return 0, err
		}
	}
	now := time.Now()
	history := false
	if len(leaves) > 0 {
		if err := store.AppendLeaves(ctx, tx, leaves, nodes); err != nil {
			return 0, fmt.Errorf("append leaves: %w", err)
		}
		root, err := rng.GetRootHash(nil)
		if err != nil {
			return 0, err
		}
		note, err := in.keys.SignCheckpoint(rng.End(), root)
		if err != nil {
			return 0, err
		}
		history = now.Sub(st.lastHistory) >= in.HistoryEvery
		if err := store.SetLatestCheckpoint(ctx, tx, store.LogCheckpoint{TreeSize: int64(rng.End()), RootHash: root, At: now, Note: note}, history); err != nil {
			return 0, fmt.Errorf("checkpoint: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	st.rng = rng
	if history {
		st.lastHistory = now
	}
	in.metrics.treeSize.Set(float64(rng.End()))
	in.metrics.rejected.Add(float64(rejected))
	for _, r := range recs {
		in.metrics.lag.Observe(now.Sub(r.At).Seconds())
	}
	return len(recs), nil
}

// Authentic reports whether r's MAC is the server's: r was written
// through the server's write path and not changed since.
func (k *Keys) Authentic(r *store.AuditRecord) bool {
	return len(r.MAC) > 0 && hmac.Equal(r.MAC, k.RecordMAC(LeafBytes(r, false)))
}

// Metrics are the audit trail's Prometheus metrics.
type Metrics struct {
	lag      prometheus.Histogram
	treeSize prometheus.Gauge
	rejected prometheus.Counter
	tampered prometheus.Gauge
}

// NewMetrics makes the metrics and registers them with reg (when set).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sinergi_audit_integration_lag_seconds",
			Help:    "Time from an audit record's write to its inclusion in a signed checkpoint.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30}}),
		treeSize: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sinergi_audit_log_tree_size",
			Help: "Leaves in the audit log, as this process's integrator last saw it."}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "sinergi_audit_records_rejected_total",
			Help: "Audit records the integrator refused because their MAC does not verify."}),
		tampered: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sinergi_audit_log_tampered",
			Help: "1 while the stored log does not match its newest checkpoint and the integrator refuses to sign."}),
	}
	if reg != nil {
		reg.MustRegister(m.lag, m.treeSize, m.rejected, m.tampered)
	}
	return m
}
