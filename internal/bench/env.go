package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/devdb"
	"github.com/sinergi-id/sinergi/internal/devenv"
	"github.com/sinergi-id/sinergi/internal/pki"
	"github.com/sinergi-id/sinergi/internal/store"
)

func numCPU() int { return runtime.NumCPU() }

// Env is the benchmark's database and server process.
type Env struct {
	StateDir  string
	ServerURL string
	DBName    string
	// URL reaches the database as the server's administrator; Roles as
	// each of Sinergi's roles.
	URL      string
	Roles    store.Roles
	PKIDir   string
	AuditKey string
	Store    *store.Store // connected as the administrator, for floors and checks
	// App is connected as the server's role, to write audit records through
	// the group commit as the server does, sealed by Sealer with the
	// server's keys (the floors write theirs through Store).
	App    *store.Store
	Keys   *audit.Keys
	Sealer *audit.Sealer
	Addr   string
	// MetricsAddr serves /metrics and /debug/pprof of the server.
	MetricsAddr string
	cmd         *exec.Cmd
	log         *os.File
	// checkpointRefused: the role may not CHECKPOINT (said once).
	checkpointRefused bool
}

// benchConnections is how many connections the bench may hold at once:
// the floors' 64 beside the server's pool, its integrator and the loads'
// own queries.
const benchConnections = 200

// roomyServer is server if it accepts benchConnections connections. A
// server found on the machine that does not (PostgreSQL's default is 100)
// is passed over for a throwaway cluster under stateDir, which does; one
// named by DATABASE_URL is refused with what to change.
func roomyServer(ctx context.Context, stateDir, server string) (string, error) {
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return "", err
	}
	var n int
	err = conn.QueryRow(ctx, `SELECT setting::int FROM pg_settings WHERE name = 'max_connections'`).Scan(&n)
	conn.Close(ctx)
	if err != nil || n >= benchConnections {
		return server, err
	}
	if devdb.FromEnvironment() {
		return "", fmt.Errorf("the PostgreSQL server of DATABASE_URL allows %d connections, and the bench holds up to %d at once: raise its max_connections, or unset DATABASE_URL and the bench starts a cluster of its own", n, benchConnections)
	}
	return devdb.StartCluster(ctx, stateDir, devdb.ClusterPort)
}

// Setup creates a fresh benchmark database, migrated and seeded with the
// demo directory, and the certificates.
func Setup(ctx context.Context, stateDir string) (*Env, error) {
	server, err := devdb.ServerURL(ctx, stateDir)
	if err != nil {
		return nil, err
	}
	if server, err = roomyServer(ctx, stateDir, server); err != nil {
		return nil, err
	}
	e := &Env{StateDir: stateDir, ServerURL: server, DBName: "sinergi_bench", PKIDir: filepath.Join(stateDir, "bench-pki")}
	e.AuditKey = filepath.Join(e.PKIDir, "audit-signing.key")
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS sinergi_bench WITH (FORCE)"); err != nil {
		return nil, err
	}
	d, err := devenv.SetUp(ctx, server, e.DBName)
	if err != nil {
		return nil, err
	}
	e.URL, e.Roles = d.Admin, d.Roles
	if err := store.Migrate(ctx, e.Roles.Owner); err != nil {
		return nil, err
	}
	if err := audit.WriteNewKey(e.AuditKey); err != nil {
		return nil, err
	}
	if e.Keys, err = devenv.LoadAuditKeys(e.AuditKey, pki.DefaultTrustDomain); err != nil {
		return nil, err
	}
	if _, err := devenv.SeedDemo(ctx, e.Roles.App, e.Keys, devenv.DevOperator); err != nil {
		return nil, err
	}
	if err := devenv.DevPKI(ctx, e.Roles.App, e.PKIDir, pki.DefaultTrustDomain); err != nil {
		return nil, err
	}
	if e.Store, err = store.Open(ctx, e.URL, store.Options{MaxConns: 66}); err != nil {
		return nil, err
	}
	if e.App, err = store.Open(ctx, e.Roles.App, store.Options{MaxConns: 2}); err != nil {
		return nil, err
	}
	e.Sealer = audit.NewSealer(e.Keys, e.App)
	return e, nil
}

// StartServer runs `sinergi serve` from binary as a separate process.
func (e *Env) StartServer(ctx context.Context, binary string) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	e.Addr = l.Addr().String()
	l.Close()
	if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return err
	}
	e.MetricsAddr = l.Addr().String()
	l.Close()
	e.log, err = os.Create(filepath.Join(e.StateDir, strings.ReplaceAll(e.DBName, "sinergi_", "")+"-server.log"))
	if err != nil {
		return err
	}
	// The HTTP/JSON listener runs as in production (on a free port), so that
	// native gRPC is measured beside it.
	e.cmd = exec.Command(binary, "serve", "--addr", e.Addr, "--metrics-addr", e.MetricsAddr, "--http-addr", "127.0.0.1:0", "--pprof",
		"--database-url", e.Roles.App, "--integrator-database-url", e.Roles.Integrator, "--cert", pki.ServerCertPath(e.PKIDir), "--key", pki.ServerKeyPath(e.PKIDir),
		"--ca", pki.CACertPath(e.PKIDir), "--audit-key", e.AuditKey, "--db-max-conns", serverConns(),
		// The demo directory's ten police units hold the stalled-watchers
		// step's 1 000 stalled streams and its live one.
		"--streams-per-institution", "110",
		// The load generator screens thousands of visitors a second from
		// one facility: far past a gate's limit, which is not what is measured.
		"--screening-rate", "100000000", "--screening-burst", "100000000")
	e.cmd.Stdout, e.cmd.Stderr = e.log, e.log
	if err := e.cmd.Start(); err != nil {
		return err
	}
	conn := e.Conn("mabes-polri")
	defer conn.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		r, err := healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server did not become healthy (log: %s): %v", e.log.Name(), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serverConns is the server's pool size: the database allows 100
// connections, and the floors need 64 of them.
func serverConns() string {
	if v := os.Getenv("BENCH_SERVER_CONNS"); v != "" {
		return v
	}
	return "16"
}

// Conn connects to the server as institution code over mutual TLS.
func (e *Env) Conn(code string) *grpc.ClientConn {
	cfg, err := pki.ClientTLS(pki.Files{Cert: pki.ClientCertPath(e.PKIDir, code), Key: pki.ClientKeyPath(e.PKIDir, code), CA: pki.CACertPath(e.PKIDir)}, "127.0.0.1")
	if err != nil {
		panic(err)
	}
	conn, err := grpc.NewClient(e.Addr, grpc.WithTransportCredentials(credentialsTLS(cfg)))
	if err != nil {
		panic(err)
	}
	return conn
}

// Profile saves a CPU profile of the server over d to path.
func (e *Env) Profile(ctx context.Context, d time.Duration, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", e.MetricsAddr, int(d.Seconds())), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// PeakRSSMB is the server process's peak resident memory (VmHWM), in MiB.
func (e *Env) PeakRSSMB() float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", e.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return -1
}

// Close stops the server and drops the database.
func (e *Env) Close(ctx context.Context) {
	e.stopServer()
	if e.Store != nil {
		e.Store.Close()
	}
	if e.App != nil {
		e.App.Close()
	}
	if conn, err := pgx.Connect(ctx, e.ServerURL); err == nil {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS sinergi_bench WITH (FORCE)")
		conn.Close(ctx)
	}
}
