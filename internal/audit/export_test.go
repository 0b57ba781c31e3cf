package audit

import (
	"context"

	"github.com/sinergi-id/sinergi/internal/store"
)

// NewWriterWith is a writer whose batches go to write instead of the
// store, for tests of how batches are cut.
func NewWriterWith(write func(context.Context, []*store.AuditRecord) error, flushers, maxBatch, queue int) *Writer {
	return newWriter(write, flushers, maxBatch, queue)
}
