package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sinergi-id/sinergi/internal/devdb"
)

// StopMode is how a cluster is stopped: PostgreSQL's shutdown modes.
type StopMode string

// The modes, as pg_ctl -m names them, and the signal each sends the postmaster.
const (
	Smart     StopMode = "smart"     // SIGTERM: waits for every session to end
	Fast      StopMode = "fast"      // SIGINT: ends every session, checkpoints, stops
	Immediate StopMode = "immediate" // SIGQUIT: stops at once; the next start recovers from the WAL
)

func (m StopMode) signal() syscall.Signal {
	switch m {
	case Smart:
		return syscall.SIGTERM
	case Immediate:
		return syscall.SIGQUIT
	}
	return syscall.SIGINT
}

// Cluster is a PostgreSQL cluster of the harness's own, under its
// temporary directory, listening on 127.0.0.1 on a port of its own and on
// a socket in its directory. Its postmaster is a child of the harness
// (killed with it, SIGKILL on the harness's death), run as the postgres
// user when the harness runs as root.
type Cluster struct {
	Name     string
	Root     string // data, socket and log live under it
	Data     string
	Socket   string
	Port     int
	settings []string
	bin      string
	owner    *osUser

	cmd    *exec.Cmd
	exited chan struct{}
}

type osUser struct {
	name     string
	uid, gid int
}

// clusterOwner is who runs the clusters: initdb and postgres refuse to run
// as root, so as root the postgres system user does (as in internal/devdb).
func clusterOwner() (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &osUser{name: name, uid: uid, gid: gid}, nil
	}
	return nil, errors.New("running as root and neither a postgres nor a nobody user exists to own the clusters")
}

func (u *osUser) attr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	if u != nil {
		a.Credential = &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid)}
	}
	return a
}

func (u *osUser) chown(paths ...string) error {
	if u == nil {
		return nil
	}
	for _, p := range paths {
		if err := os.Chown(p, u.uid, u.gid); err != nil {
			return err
		}
	}
	return nil
}

// binDir is the newest /usr/lib/postgresql/*/bin with the server binaries,
// else pg_config --bindir, else PATH.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) int { v, _ := strconv.Atoi(filepath.Base(filepath.Dir(d))); return v }
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_basebackup")); err == nil {
			return d, nil
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, postgres, pg_basebackup): install the postgresql package")
}

// run runs a PostgreSQL tool as the cluster owner.
func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.SysProcAttr = c.owner.attr()
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// freePort is a port on 127.0.0.1 nothing listens on now, never the
// machine's own PostgreSQL's (5432) nor the development cluster's.
func freePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if p != 5432 && p != devdb.ClusterPort {
			return p, nil
		}
	}
	return 0, errors.New("no free port")
}

func newCluster(h *Harness, name string, settings []string) (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c := &Cluster{Name: name, Root: filepath.Join(h.Root, name), Port: port, settings: settings, bin: bin, owner: h.owner}
	c.Data, c.Socket = filepath.Join(c.Root, "data"), filepath.Join(c.Root, "run")
	for _, d := range []string{c.Root, c.Socket} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
		if err := c.owner.chown(d); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// initCluster creates and starts a new cluster.
func (h *Harness) initCluster(ctx context.Context, name string, settings ...string) (*Cluster, error) {
	c, err := newCluster(h, name, settings)
	if err != nil {
		return nil, err
	}
	if err := c.run(ctx, "initdb", "-D", c.Data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "-N"); err != nil {
		return nil, err
	}
	h.track(c)
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// standbyOf makes a streaming standby of primary with pg_basebackup -R
// (replication slot name, its application_name for
// synchronous_standby_names) and starts it.
func (h *Harness) standbyOf(ctx context.Context, primary *Cluster, name string, settings ...string) (*Cluster, error) {
	c, err := newCluster(h, name, append([]string{"cluster_name=" + name}, settings...))
	if err != nil {
		return nil, err
	}
	if err := c.run(ctx, "pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(primary.Port), "-U", "postgres",
		"-D", c.Data, "-R", "-X", "stream", "-c", "fast", "-C", "-S", name); err != nil {
		return nil, err
	}
	h.track(c)
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Start runs the postmaster and waits until it accepts connections (a
// restart after an immediate stop first recovers from the WAL).
func (c *Cluster) Start(ctx context.Context) error {
	if c.cmd != nil {
		return fmt.Errorf("cluster %s runs already", c.Name)
	}
	args := []string{"-D", c.Data, "-p", strconv.Itoa(c.Port), "-k", c.Socket,
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300", "-c", "shared_buffers=64MB"}
	for _, s := range c.settings {
		args = append(args, "-c", s)
	}
	logf, err := os.OpenFile(filepath.Join(c.Root, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), args...)
	cmd.SysProcAttr = c.owner.attr()
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	c.cmd, c.exited = cmd, exited
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(pctx, c.URL("postgres", "postgres"))
		if err == nil {
			err = conn.Ping(pctx)
			conn.Close(pctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			c.cmd = nil
			return fmt.Errorf("cluster %s exited on start: %s", c.Name, c.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster %s does not accept connections: %v: %s", c.Name, err, c.logTail())
		}
	}
}

// Stop stops the postmaster in mode and waits until it has exited (a
// minute at most, then it is killed).
func (c *Cluster) Stop(mode StopMode) error {
	if c.cmd == nil {
		return nil
	}
	_ = c.cmd.Process.Signal(mode.signal())
	select {
	case <-c.exited:
	case <-time.After(time.Minute):
		_ = c.cmd.Process.Kill()
		<-c.exited
		c.cmd = nil
		return fmt.Errorf("cluster %s did not stop (%s) within a minute: killed", c.Name, mode)
	}
	c.cmd = nil
	return nil
}

// Restart stops the cluster in mode and starts it again; down is when the
// stop began, up when it accepted connections again.
func (c *Cluster) Restart(ctx context.Context, mode StopMode) (down, up time.Time, err error) {
	down = time.Now()
	if err := c.Stop(mode); err != nil {
		return down, time.Time{}, err
	}
	if err := c.Start(ctx); err != nil {
		return down, time.Time{}, err
	}
	return down, time.Now(), nil
}

// Promote makes a standby the primary and waits until it takes writes.
func (c *Cluster) Promote(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres", "postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_promote(true, 60)`).Scan(&ok); err != nil {
		return fmt.Errorf("promote %s: %w", c.Name, err)
	}
	if !ok {
		return fmt.Errorf("promote %s: not promoted within 60 s", c.Name)
	}
	return nil
}

// URL is the cluster's database db as user, through its socket.
func (c *Cluster) URL(user, db string) string {
	return fmt.Sprintf("postgres://%s@/%s?host=%s&port=%d&sslmode=disable", url.PathEscape(user), url.PathEscape(db), url.QueryEscape(c.Socket), c.Port)
}

// Addr is the cluster's TCP address.
func (c *Cluster) Addr() string { return fmt.Sprintf("127.0.0.1:%d", c.Port) }

func (c *Cluster) logTail() string {
	b, _ := os.ReadFile(filepath.Join(c.Root, "postgres.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}
