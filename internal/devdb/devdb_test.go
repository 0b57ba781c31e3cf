package devdb

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestThrowawayCluster starts a real cluster from the machine's PostgreSQL
// binaries, as `make run` and `make test` do where no server answers, even
// as root, and stops it.
func TestThrowawayCluster(t *testing.T) {
	if _, err := binDir(); err != nil {
		t.Skip("no PostgreSQL server binaries on this machine:", err)
	}
	base, err := os.MkdirTemp("", "sinergi-devdb-")
	if err != nil {
		t.Fatal(err)
	}
	// The cluster's owner (postgres, when we are root) must reach the directory.
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(base, ".sinergi")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	port := freePort(t)
	t.Cleanup(func() {
		_ = stopCluster(context.Background(), state)
		os.RemoveAll(base)
	})
	url, err := StartCluster(ctx, state, port)
	if err != nil {
		t.Fatal(err)
	}
	// make run says so, and stops it when it exits.
	if !StartedCluster() {
		t.Error("StartCluster started a cluster and StartedCluster does not say so")
	}
	// Reached through its socket, not the loopback interface.
	if !strings.Contains(url, "host=") || strings.Contains(url, "127.0.0.1") {
		t.Errorf("cluster URL %q does not use the cluster's socket", url)
	}
	if err := EnsureDatabase(ctx, url, "sinergi"); err != nil {
		t.Fatal(err)
	}
	dbURL, err := WithDatabase(url, "sinergi")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil || name != "sinergi" {
		t.Fatalf("current_database() = %q, %v", name, err)
	}
	conn.Close(ctx)
	// A second start finds it running and reuses it.
	again, err := StartCluster(ctx, state, port)
	if err != nil || again != url {
		t.Fatalf("restart: %q %v", again, err)
	}
}

// TestLocalCandidatesPreferTheSocket: a server with a socket in one of the
// packages' socket directories is tried through it first, then on
// 127.0.0.1; a directory without a socket is not tried.
func TestLocalCandidatesPreferTheSocket(t *testing.T) {
	with, without := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(with, ".s.PGSQL.5432"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	saved := socketDirs
	socketDirs = []string{without, with, with}
	t.Cleanup(func() { socketDirs = saved })
	t.Setenv("PGUSER", "analyst")
	got := localCandidates()
	want := []string{
		"postgres://analyst@/postgres?host=" + url.QueryEscape(with) + "&port=5432&sslmode=disable",
		"postgres://analyst@127.0.0.1:5432/postgres?sslmode=disable",
	}
	if len(got) < 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("candidates %q, want to start with %q", got, want)
	}
	for _, u := range got {
		if strings.Contains(u, url.QueryEscape(without)) {
			t.Errorf("candidate %q names a directory without a socket", u)
		}
	}
	cfg, err := pgx.ParseConfig(got[0])
	if err != nil || cfg.Host != with || cfg.Port != 5432 || cfg.Database != "postgres" {
		t.Fatalf("socket candidate parses as %+v, %v", cfg, err)
	}
}

func stopCluster(ctx context.Context, state string) error { return StopCluster(ctx, state) }

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestWithDatabase(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u@127.0.0.1:5432/postgres?sslmode=disable": "postgres://u@127.0.0.1:5432/x?sslmode=disable",
		"host=/tmp user=u": "host=/tmp user=u dbname=x",
	} {
		if got, err := WithDatabase(in, "x"); err != nil || got != want {
			t.Errorf("WithDatabase(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
