package audit

import (
	"context"

	"google.golang.org/grpc/codes"
)

// RecordEvent commits the audit record of an event outside any call (a
// refused TLS handshake), finished with code, and returns once it is
// durable.
func (r *Recorder) RecordEvent(ctx context.Context, e *Entry, code codes.Code) error {
	return r.Writer.Append(ctx, e.finish(code.String()))
}

// Ended adds to the record why a call that was let through ended early
// (a stream ended by its recheck), keeping its decision.
func (e *Entry) Ended(why string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rec.Reason == "" {
		e.rec.Reason = "ended: " + why
		return
	}
	e.rec.Reason += "; ended: " + why
}
