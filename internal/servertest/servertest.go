// Package servertest runs a real Sinergi server for tests: its own
// database (internal/pgtest), the demo directory, a development PKI in a
// temporary directory, a real mutual-TLS listener on 127.0.0.1:0, and
// clients that connect as any institution through the generated client.
package servertest

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/devenv"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/pki"
	"github.com/sinergi-id/sinergi/internal/server"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Clock is a settable clock; unset it follows real time.
type Clock struct {
	mu  sync.Mutex
	set time.Time
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.set.IsZero() {
		return time.Now()
	}
	return c.set
}

// Set fixes the clock at t (zero: back to real time).
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set = t
}

// Advance moves a fixed clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.set.IsZero() {
		c.set = time.Now()
	}
	c.set = c.set.Add(d)
}

// Env is a running server and what it takes to call it.
type Env struct {
	DB       *pgtest.DB
	PKIDir   string
	AuditKey string
	Server   *server.Server
	Clock    *Clock
	// Owner is a store connected as the schema owner (superuser in tests),
	// for tests that tamper with the database behind the server's back.
	Owner *store.Store
	cfg   server.Config
}

// Options adjust Start.
type Options struct {
	// Configure may change the server's configuration.
	Configure func(*server.Config)
}

var (
	prepMu   sync.Mutex
	prepared = map[string]bool{}
	pkiRoot  string
)

// Prepare seeds the demo directory into db and issues certificates for
// its institutions into a directory shared by the package's tests.
func Prepare(t testing.TB, db *pgtest.DB) (pkiDir, auditKey string) {
	t.Helper()
	ctx := context.Background()
	prepMu.Lock()
	defer prepMu.Unlock()
	if pkiRoot == "" {
		// One PKI per test process: packages run in parallel and must not
		// race on one CA's files.
		dir, err := os.MkdirTemp("", "sinergi-test-pki-")
		if err != nil {
			t.Fatal(err)
		}
		pkiRoot = dir
	}
	pkiDir = pkiRoot
	auditKey = filepath.Join(pkiDir, "audit-signing.key")
	if !prepared[db.Name] {
		if err := audit.WriteNewKey(auditKey); err != nil {
			t.Fatal(err)
		}
		keys, err := devenv.LoadAuditKeys(auditKey, pki.DefaultTrustDomain)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := devenv.SeedDemo(ctx, db.App, keys, devenv.DevOperator); err != nil {
			t.Fatalf("seed demo directory: %v", err)
		}
		if err := devenv.SeedDemoScreening(ctx, db.App, keys, devenv.DevOperator); err != nil {
			t.Fatalf("seed demo screening lists: %v", err)
		}
		if err := devenv.DevPKI(ctx, db.App, pkiDir, pki.DefaultTrustDomain); err != nil {
			t.Fatalf("dev pki: %v", err)
		}
		prepared[db.Name] = true
	}
	return pkiDir, auditKey
}

// Start runs a server on db until the test ends.
func Start(t testing.TB, db *pgtest.DB, opts Options) *Env {
	t.Helper()
	pkiDir, auditKey := Prepare(t, db)
	e := &Env{DB: db, PKIDir: pkiDir, AuditKey: auditKey, Clock: &Clock{}}
	e.cfg = server.Config{
		Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", DatabaseURL: db.App, IntegratorDatabaseURL: db.Integrator, TrustDomain: pki.DefaultTrustDomain,
		TLS:          pki.Files{Cert: pki.ServerCertPath(pkiDir), Key: pki.ServerKeyPath(pkiDir), CA: pki.CACertPath(pkiDir)},
		AuditKeyPath: auditKey, Now: e.Clock.Now, ShutdownGrace: 2 * time.Second, MaxConns: 16,
		AuditInterval: 20 * time.Millisecond,
	}
	if opts.Configure != nil {
		opts.Configure(&e.cfg)
	}
	e.Server = e.start(t)
	owner, err := store.Open(context.Background(), db.URL, store.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(owner.Close)
	e.Owner = owner
	return e
}

func (e *Env) start(t testing.TB) *server.Server {
	t.Helper()
	srv, err := server.New(context.Background(), e.cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("server start: %v", err)
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(srv.Stop) })
	return srv
}

// Restart stops the server and starts another on the same database and
// address-less listener (a new port).
func (e *Env) Restart(t testing.TB) {
	t.Helper()
	e.Server.Stop()
	e.Server = e.start(t)
}

// Another starts a second server process on the same database.
func (e *Env) Another(t testing.TB) *server.Server {
	t.Helper()
	return e.start(t)
}

// Addr is the server's address.
func (e *Env) Addr() string { return e.Server.Addr() }

// Files are the certificate files of institution code.
func (e *Env) Files(code string) pki.Files {
	return pki.Files{Cert: pki.ClientCertPath(e.PKIDir, code), Key: pki.ClientKeyPath(e.PKIDir, code), CA: pki.CACertPath(e.PKIDir)}
}

// Dial connects to addr with a TLS configuration.
func Dial(t testing.TB, addr string, cfg *tls.Config) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// ConnAs connects to the server as institution code.
func (e *Env) ConnAs(t testing.TB, code string) *grpc.ClientConn {
	return e.ConnAsTo(t, e.Addr(), code)
}

// ConnAsTo connects to addr (another process) as institution code.
func (e *Env) ConnAsTo(t testing.TB, addr, code string) *grpc.ClientConn {
	t.Helper()
	cfg, err := pki.ClientTLS(e.Files(code), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return Dial(t, addr, cfg)
}

// HTTPAddr is the address of the server's HTTP/JSON listener.
func (e *Env) HTTPAddr() string { return e.Server.HTTPAddr() }

// HTTPClientAs is an HTTP client (HTTP/2 when the server offers it)
// presenting institution code's certificate, as curl --cert would.
func (e *Env) HTTPClientAs(t testing.TB, code string) *http.Client {
	t.Helper()
	cfg, err := pki.ClientTLS(e.Files(code), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// Clients are the generated clients on one connection.
type Clients struct {
	Conn         *grpc.ClientConn
	Institutions sinergiv1.InstitutionServiceClient
	Agreements   sinergiv1.AgreementServiceClient
	Audit        sinergiv1.AuditServiceClient
}

// As returns the generated clients connected as institution code.
func (e *Env) As(t testing.TB, code string) *Clients {
	return NewClients(e.ConnAs(t, code))
}

// NewClients wraps a connection.
func NewClients(conn *grpc.ClientConn) *Clients {
	return &Clients{
		Conn:         conn,
		Institutions: sinergiv1.NewInstitutionServiceClient(conn),
		Agreements:   sinergiv1.NewAgreementServiceClient(conn),
		Audit:        sinergiv1.NewAuditServiceClient(conn),
	}
}

// WaitIntegrated waits until every audit record written so far is in the
// audit log.
func (e *Env) WaitIntegrated(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var queued int64
		if err := e.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_queue`).Scan(&queued); err != nil {
			t.Fatal(err)
		}
		if queued == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d audit records still not in the log", queued)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Keys are the server's audit keys.
func (e *Env) Keys(t testing.TB) *audit.Keys {
	t.Helper()
	k, err := audit.LoadKey(e.AuditKey)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := audit.NewKeys(k, audit.DefaultOrigin(pki.DefaultTrustDomain))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// Revoke revokes certificates as `sinergi revoke-cert` does, with its
// audit record sealed with the server's keys.
func (e *Env) Revoke(t testing.TB, revs ...store.Revocation) {
	t.Helper()
	entry := audit.NewSealer(e.Keys(t), e.Owner).NewEntry("sinergi:revoke-cert", "")
	entry.SetAccess(devenv.DevOperator, "ADMINISTRATION", "")
	entry.Allow("revocation by a test")
	if _, err := e.Owner.RevokeCertificates(context.Background(), entry, revs); err != nil {
		t.Fatal(err)
	}
}
