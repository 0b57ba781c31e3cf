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
	return &Sealer{keys: keys, reserve: reserve}
}
