package store

import (
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// hostConnectTimeout is how long a connection to one host of a multi-host
// URL may take before the next host is tried, unless connect_timeout says.
const hostConnectTimeout = 5 * time.Second

// multiHost reports whether cfg names more than one server (host and port).
// sslmode=prefer gives the same server twice, with and without TLS: that
// is one server.
func multiHost(cfg *pgconn.Config) bool {
	for _, fb := range cfg.Fallbacks {
		if fb.Host != cfg.Host || fb.Port != cfg.Port {
			return true
		}
	}
	return false
}

// forPrimary makes a connection string that lists several servers (a
// primary and its standbys: host=a,b or postgres://a:5432,b:5432/db) land on
// the one that takes writes, whichever that is now. Sinergi writes on every
// connection it holds, so target_session_attrs defaults to read-write (a
// standby is skipped, and after a promotion the new primary is found); and
// a host that does not answer is given up after hostConnectTimeout instead
// of holding every connection attempt until the kernel gives up on it.
// Explicit target_session_attrs (other than any) and connect_timeout win.
// A single-host string is left as it is.
func forPrimary(cfg *pgconn.Config) {
	if !multiHost(cfg) {
		return
	}
	if cfg.ValidateConnect == nil {
		cfg.ValidateConnect = pgconn.ValidateConnectTargetSessionAttrsReadWrite
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = hostConnectTimeout
	}
}
