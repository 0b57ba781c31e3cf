package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// listenProbe is how long a LISTEN connection may stay silent before
// WaitForNotification checks that its server still answers, and
// listenProbeTimeout how long that check may take.
var listenProbe, listenProbeTimeout = 10 * time.Second, 5 * time.Second

// WaitForNotification waits for the next notification on conn, a
// connection that LISTENs. A listener only reads, so a server that is gone
// without closing the connection (a host that died in a failover, a cut
// network) would otherwise be noticed only when TCP keepalives give up,
// minutes later, while its notifications go to another server: after every
// listenProbe of silence it pings the server and returns the error when
// that fails, for the caller to reconnect.
func WaitForNotification(ctx context.Context, conn *pgx.Conn) (*pgconn.Notification, error) {
	for {
		wctx, cancel := context.WithTimeout(ctx, listenProbe)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err == nil {
			return n, nil
		}
		// A wait that ran out is not a failure: the connection stays usable
		// (pgconn closes it only on other errors).
		if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) || conn.IsClosed() {
			return nil, err
		}
		pctx, cancel := context.WithTimeout(ctx, listenProbeTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("listener's server does not answer: %w", err)
		}
	}
}
