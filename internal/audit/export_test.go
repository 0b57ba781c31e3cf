package audit

import (
	"context"

	"github.com/sinergi-id/sinergi/internal/store"
)

// NewWriterWith is a writer whose batches go to write instead of the
// store, for tests of how batches are cut.
func NewWriterWith(write func(context.Context, []*store.AuditRecord) error, sealer *Sealer, flushers, maxBatch, queue int) *Writer {
	return newWriter(write, sealer, flushers, maxBatch, queue)
}

// NewSealerWith seals with keys and ids from reserve.
func NewSealerWith(keys *Keys, reserve func(context.Context) (int64, error)) *Sealer {
	return &Sealer{keys: keys, reserve: func(ctx context.Context, _ store.DB) (int64, error) { return reserve(ctx) }}
}

// NewWriterAsking is a writer whose batches go to write, and which asks
// st whether a batch whose commit went unacknowledged is in the trail.
func NewWriterAsking(st *store.Store, write func(context.Context, []*store.AuditRecord) error, sealer *Sealer) *Writer {
	w := newWriter(write, sealer, Flushers, 512, 4096)
	w.committed = st.AuditRecordCommitted
	return w
}
