package api

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// retryable is an error pgconn marks safe to retry, as it does "conn
// closed" (a connection already lost when the call came to use it).
type retryable struct{}

func (retryable) Error() string     { return "conn closed" }
func (retryable) SafeToRetry() bool { return true }

// TestLostConnectionIsUnavailable: a database connection lost under a
// call (reset by a restart, closed, cut short; what the fault battery's
// PostgreSQL restarts and failover produce) is UNAVAILABLE, worth a retry,
// not INTERNAL; errors of the statement itself are not.
func TestLostConnectionIsUnavailable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "read", Net: "unix", Err: syscall.ECONNRESET}, true},
		{fmt.Errorf("query: %w", &net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}), true},
		{fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), true},
		{retryable{}, true},
		{&pgconn.PgError{Code: "57P01"}, true}, // terminating connection due to administrator command
		{&pgconn.PgError{Code: "57P02"}, true}, // crash of another server process
		{&pgconn.PgError{Code: "57P03"}, true}, // the database system is starting up
		{&pgconn.PgError{Code: "08006"}, true}, // connection failure
		{&pgconn.PgError{Code: "53300"}, true}, // too many connections
		{&pgconn.PgError{Code: "23505"}, false},
		{&pgconn.PgError{Code: "42501"}, false},
		{errors.New("something else"), false},
	} {
		if got := isUnavailable(tc.err); got != tc.want {
			t.Errorf("isUnavailable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
