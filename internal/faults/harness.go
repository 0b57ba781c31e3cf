package faults

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/demodata"
	"github.com/sinergi-id/sinergi/internal/devdb"
	"github.com/sinergi-id/sinergi/internal/devenv"
	"github.com/sinergi-id/sinergi/internal/pki"
	"github.com/sinergi-id/sinergi/internal/store"
)

// rootPrefix names the harness's temporary directories (under os.TempDir).
const rootPrefix = "sinergi-faults-"

// Harness owns everything a run starts: its temporary directory, the
// clusters in it and the server processes. Close stops and removes them
// all; a run that died without closing is cleaned up by the next one.
type Harness struct {
	// Binary is the sinergi command the servers run as.
	Binary string
	Root   string
	// PKIDir and AuditKey are the certificates and audit signing key every
	// server and client of the run uses.
	PKIDir, AuditKey string
	Keys             *audit.Keys
	// People is how many synthetic people each prepared database holds.
	People int
	// Log receives progress lines (nil: none).
	Log io.Writer
	// Keep leaves the directory (the clusters' data and logs, the servers'
	// logs) and the scenarios' databases in place when the run ends, for
	// a look at what happened; the clusters and servers are stopped all the same.
	Keep bool

	owner    *osUser
	mu       sync.Mutex
	clusters []*Cluster
	servers  []*Server
	pkiDone  bool
	// baseCluster holds the template database most scenarios clone.
	baseCluster *Cluster
}

// NewHarness makes the run's temporary directory, after removing those of
// earlier runs that died without cleaning up (stopping their clusters).
func NewHarness(binary string, log io.Writer) (*Harness, error) {
	abs, err := filepath.Abs(binary)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("the sinergi binary: %w (run make build)", err)
	}
	owner, err := clusterOwner()
	if err != nil {
		return nil, err
	}
	sweepStale()
	root, err := os.MkdirTemp("", rootPrefix)
	if err != nil {
		return nil, err
	}
	h := &Harness{Binary: abs, Root: root, People: 2000, Log: log, owner: owner}
	if err := os.WriteFile(filepath.Join(root, "harness.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		h.Close()
		return nil, err
	}
	if err := owner.chown(root); err != nil {
		h.Close()
		return nil, err
	}
	h.PKIDir = filepath.Join(root, "pki")
	h.AuditKey = filepath.Join(h.PKIDir, "audit-signing.key")
	if err := audit.WriteNewKey(h.AuditKey); err != nil {
		h.Close()
		return nil, err
	}
	if h.Keys, err = devenv.LoadAuditKeys(h.AuditKey, pki.DefaultTrustDomain); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

func (h *Harness) logf(format string, args ...any) {
	if h.Log != nil {
		fmt.Fprintf(h.Log, format+"\n", args...)
	}
}

// drop stops a cluster and removes its directory.
func (h *Harness) drop(c *Cluster) {
	_ = c.Stop(Immediate)
	h.mu.Lock()
	h.clusters = slices.DeleteFunc(h.clusters, func(x *Cluster) bool { return x == c })
	h.mu.Unlock()
	_ = os.RemoveAll(c.Root)
}

func (h *Harness) track(c *Cluster) {
	h.mu.Lock()
	h.clusters = append(h.clusters, c)
	h.mu.Unlock()
}

// Close kills every server, stops every cluster and removes the directory.
func (h *Harness) Close() {
	h.mu.Lock()
	servers, clusters := h.servers, h.clusters
	h.servers, h.clusters, h.baseCluster = nil, nil, nil
	h.mu.Unlock()
	for _, s := range servers {
		s.Kill()
	}
	for _, c := range clusters {
		_ = c.Stop(Immediate)
	}
	if h.Keep {
		_ = os.Remove(filepath.Join(h.Root, "harness.pid"))
		h.logf("kept %s", h.Root)
		return
	}
	_ = os.RemoveAll(h.Root)
}

// sweepStale removes the directories of runs whose harness process is gone,
// stopping any postmaster still running in them (not those kept on purpose).
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), rootPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "harness.pid"))
		if errors.Is(err, os.ErrNotExist) {
			if _, err := os.Stat(filepath.Join(d, "pki")); err == nil {
				continue // kept (-keep): its run removed the pid file
			}
		}
		if err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && alive(pid) {
				continue // a run in progress
			}
		}
		pids, _ := filepath.Glob(filepath.Join(d, "*", "data", "postmaster.pid"))
		for _, p := range pids {
			stopPostmaster(p)
		}
		_ = os.RemoveAll(d)
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// stopPostmaster stops the postmaster of a postmaster.pid file, if it is
// one (its command line names postgres).
func stopPostmaster(pidFile string) {
	f, err := os.Open(pidFile)
	if err != nil {
		return
	}
	sc := bufio.NewScanner(f)
	sc.Scan()
	f.Close()
	pid, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
	if err != nil || pid <= 1 {
		return
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if !strings.Contains(string(cmdline), "postgres") {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGQUIT)
	for range 100 {
		if !alive(pid) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// Database is one database of a cluster, set up as Sinergi's: the three
// roles, migrated, the demo directory and synthetic people.
type Database struct {
	Name string
	// Admin reaches it as the superuser; Roles as each of Sinergi's roles.
	Admin string
	store.Roles
	// Pool is the superuser's, for checks behind the server's back.
	Pool *pgxpool.Pool
	// server is the maintenance database's URL, to drop it.
	server string
	keep   bool
}

// prepare makes database name on c ready: roles, migrations, the demo
// directory, h.People synthetic people; and the certificates of its
// institutions when the run has none yet.
func (h *Harness) prepare(ctx context.Context, c *Cluster, name string) (*Database, error) {
	server := c.URL("postgres", "postgres")
	d, err := devenv.SetUp(ctx, server, name)
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx, d.Owner); err != nil {
		return nil, err
	}
	if _, err := devenv.SeedDemo(ctx, d.App, h.Keys, devenv.DevOperator); err != nil {
		return nil, err
	}
	if !h.pkiDone {
		if err := devenv.DevPKI(ctx, d.App, h.PKIDir, pki.DefaultTrustDomain); err != nil {
			return nil, err
		}
		h.pkiDone = true
	}
	st, err := store.Open(ctx, d.Admin, store.Options{MaxConns: 4})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	dir, err := st.LoadDirectory(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := demodata.Load(ctx, st, 1, h.People, demodata.FacilitiesOf(dir.Institutions), time.Now()); err != nil {
		return nil, fmt.Errorf("synthetic people: %w", err)
	}
	return h.open(ctx, server, name, d.Admin, d.Roles)
}

func (h *Harness) open(ctx context.Context, server, name, admin string, roles store.Roles) (*Database, error) {
	pool, err := pgxpool.New(ctx, admin)
	if err != nil {
		return nil, err
	}
	return &Database{Name: name, Admin: admin, Roles: roles, Pool: pool, server: server, keep: h.Keep}, nil
}

// clone makes database name on c as a copy of the prepared database tmpl
// (which nothing may be connected to).
func (h *Harness) clone(ctx context.Context, c *Cluster, tmpl, name string) (*Database, error) {
	server := c.URL("postgres", "postgres")
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return nil, err
	}
	// FILE_COPY, not PostgreSQL 15's default WAL_LOG: a database copied
	// with WAL_LOG hands out again, after a crash before its next
	// checkpoint, the sequence values it gave since the copy (its sequence
	// pages come with the template's cached values and a fresh LSN, so
	// nextval logs nothing for them): restart-immediate found custody event
	// ids taken twice. FILE_COPY checkpoints around the copy.
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s OWNER %s STRATEGY FILE_COPY", pgx.Identifier{name}.Sanitize(),
		pgx.Identifier{tmpl}.Sanitize(), pgx.Identifier{store.OwnerRole}.Sanitize())); err != nil {
		return nil, fmt.Errorf("clone %s: %w", tmpl, err)
	}
	admin, err := devdb.WithDatabase(server, name)
	if err != nil {
		return nil, err
	}
	d, err := devenv.RolesOf(admin)
	if err != nil {
		return nil, err
	}
	return h.open(ctx, server, name, admin, d.Roles)
}

// Close drops the database.
func (d *Database) Close() {
	d.Pool.Close()
	if d.keep {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, d.server); err == nil {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{d.Name}.Sanitize()+" WITH (FORCE)")
		conn.Close(ctx)
	}
}

// count runs a query that returns one number.
func (d *Database) count(ctx context.Context, q string, args ...any) (int64, error) {
	var n int64
	err := d.Pool.QueryRow(ctx, q, args...).Scan(&n)
	return n, err
}

// waitIntegrated waits until the audit integrator has put every record
// written so far in the log.
func (d *Database) waitIntegrated(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		n, err := d.count(ctx, `SELECT count(*) FROM audit_queue`)
		if err == nil && n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d audit records still not in the log after %s (%v)", n, within, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// verifyLog runs `sinergi audit verify` on the database as the integrator
// role; it returns verify's first line and whether the log verified.
func (h *Harness) verifyLog(ctx context.Context, integratorURL string) (string, bool) {
	cmd := exec.CommandContext(ctx, h.Binary, "audit", "verify", "--database-url", integratorURL, "--audit-key", h.AuditKey)
	out, err := cmd.CombinedOutput()
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return first, err == nil && strings.HasPrefix(first, "OK")
}

// heldAt lists up to n records held at facility.
func (d *Database) heldAt(ctx context.Context, facility string, n int) ([]string, error) {
	rows, err := d.Pool.Query(ctx, `SELECT id::text FROM custody_records WHERE facility_code = $1 AND status = 'HELD' ORDER BY id LIMIT $2`, facility, n)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err == nil && len(ids) == 0 {
		err = fmt.Errorf("nobody is held at %s", facility)
	}
	return ids, err
}
