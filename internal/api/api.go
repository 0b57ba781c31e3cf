// Package api implements the gRPC services of sinergi.v1 on top of the
// store, the directory and the authorization reach. Handlers hold no SQL
// and no policy: the interceptors have authenticated, authorized and
// validated every request before a handler runs, and record every call.
package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authn"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/fanout"
	"github.com/sinergi-id/sinergi/internal/pagetoken"
	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
)

// Deps is what the services share.
type Deps struct {
	Store     *store.Store
	Directory *directory.Cache
	Tokens    *pagetoken.Sealer
	Now       func() time.Time
	Log       *slog.Logger
	// Hub wakes stream handlers (custody events, reports) on new rows.
	Hub *fanout.Hub
	// AuditLog serves the audit log's checkpoints and proofs.
	AuditLog *audit.Log
	// Streams bound what the long-lived streams hold, and end them at shutdown.
	Streams *Streams
	// Metrics count what the handlers did, on /metrics (nil: not counted).
	Metrics *Metrics
}

// storeError turns a storage error into the status the caller sees. An
// audit failure passes through untouched: the audit interceptor turns it
// into UNAVAILABLE (fail closed).
func (d *Deps) storeError(ctx context.Context, err error, what string) error {
	var aerr *audit.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &aerr):
		return err
	case errors.Is(err, store.ErrNotFound):
		return status.Error(codes.NotFound, what+" not found")
	case errors.Is(err, store.ErrConflict):
		return status.Error(codes.AlreadyExists, what+" already exists")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case isUnavailable(err):
		d.Log.WarnContext(ctx, "database unavailable", "what", what, "error", err)
		return status.Error(codes.Unavailable, "database unavailable; retry later")
	}
	d.Log.ErrorContext(ctx, "storage error", "what", what, "error", err)
	return status.Error(codes.Internal, "internal error")
}

// isUnavailable: the database could not be reached or refused the
// connection (too many clients, shutting down, starting up), or the
// connection was lost under the call (a restart, a failover: reset, closed,
// cut short): worth a retry, never INTERNAL.
func isUnavailable(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || pgconn.SafeToRetry(err) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "53300", "57P01", "57P02", "57P03": // too many connections, admin shutdown, crash shutdown, cannot connect now
		return true
	}
	return strings.HasPrefix(pe.Code, "08") // connection exception
}

// caller returns the authenticated caller; the interceptors guarantee one.
func caller(ctx context.Context) *authn.Caller {
	c, ok := authn.FromContext(ctx)
	if !ok {
		panic("api: handler reached without an authenticated caller")
	}
	return c
}

// pageSize is the size to use for a validated page_size.
func pageSize(n int32) int {
	switch {
	case n <= 0:
		return 50
	case n > 500:
		return 500
	}
	return int(n)
}

func checkPageSize(v *validate.Violations, n int32) {
	v.Check(n >= 0, "page_size", "must not be negative")
}

func (d *Deps) badToken() error {
	return validate.Error("page_token", "not a page token of this query (altered, expired or from another query)")
}
