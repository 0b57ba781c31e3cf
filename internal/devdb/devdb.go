// Package devdb finds or starts the PostgreSQL server that `make run`,
// `make test` and `make bench` use, in this order: DATABASE_URL when set;
// the machine's own server when one answers, through its Unix socket where
// it has one, else on 127.0.0.1:5432; otherwise a throwaway cluster of our
// own under the state directory, started from the machine's PostgreSQL
// binaries and reached through its socket.
//
// A local server is reached through its socket rather than the loopback
// interface because every round trip costs less: the kernel hands the bytes
// over without running them through TCP (measured in docs/performance.md).
package devdb

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ClusterPort is the port of the throwaway cluster started under the state directory.
const ClusterPort = 54329

// ServerURL returns a connection string to a maintenance database ("postgres")
// on a server we may create databases on, starting a throwaway cluster under
// stateDir when nothing else answers. When DATABASE_URL is set it is returned
// as it is: the caller decides whether to use its database or its server.
func ServerURL(ctx context.Context, stateDir string) (string, error) {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u, nil
	}
	for _, u := range localCandidates() {
		if ping(ctx, u) == nil {
			return u, nil
		}
	}
	return StartCluster(ctx, stateDir, ClusterPort)
}

// WithDatabase returns serverURL pointing at database name instead.
func WithDatabase(serverURL, name string) (string, error) {
	if strings.Contains(serverURL, "://") {
		u, err := url.Parse(serverURL)
		if err != nil {
			return "", fmt.Errorf("parse database url: %w", err)
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	// keyword=value form: a later dbname overrides an earlier one.
	return serverURL + " dbname=" + name, nil
}

// WithUser returns connString logging in as user, with no password (the
// roles of a development server are reached with trust).
func WithUser(connString, user string) (string, error) {
	if strings.Contains(connString, "://") {
		u, err := url.Parse(connString)
		if err != nil {
			return "", fmt.Errorf("parse database url: %w", err)
		}
		u.User = url.User(user)
		q := u.Query()
		q.Del("password")
		q.Del("user")
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return connString + " user=" + user + " password=''", nil
}

// EnsureDatabase creates database name on the server unless it exists.
func EnsureDatabase(ctx context.Context, serverURL, name string) error {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", Redact(serverURL), err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

func localCandidates() []string {
	users := []string{}
	if u := os.Getenv("PGUSER"); u != "" {
		users = append(users, u)
	}
	if u, err := user.Current(); err == nil {
		users = append(users, u.Username)
	}
	users = append(users, "postgres")
	var out []string
	seen := map[string]bool{}
	for _, u := range users {
		if seen[u] {
			continue
		}
		seen[u] = true
		for _, dir := range localSocketDirs() {
			out = append(out, socketURL(u, dir, 5432))
		}
		out = append(out, fmt.Sprintf("postgres://%s@127.0.0.1:5432/postgres?sslmode=disable", url.User(u).String()))
	}
	return out
}

func ping(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}

// Redact hides a connection string's password.
func Redact(u string) string {
	if p, err := url.Parse(u); err == nil && p.User != nil {
		if _, has := p.User.Password(); has {
			p.User = url.UserPassword(p.User.Username(), "xxxxx")
		}
		return p.String()
	}
	return "(database url)"
}

// socketDirs are where PostgreSQL's packages put the server's socket.
var socketDirs = []string{"/var/run/postgresql", "/run/postgresql", "/tmp"}

// localSocketDirs returns the directories of socketDirs that hold the
// socket of a server on port 5432, each directory once.
func localSocketDirs() []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range socketDirs {
		if _, err := os.Stat(filepath.Join(d, ".s.PGSQL.5432")); err != nil {
			continue
		}
		real, err := filepath.EvalSymlinks(d)
		if err != nil || seen[real] {
			continue
		}
		seen[real] = true
		out = append(out, d)
	}
	return out
}

// socketURL is the URL of the maintenance database of the server whose
// socket for port is in dir.
func socketURL(user, dir string, port int) string {
	return fmt.Sprintf("postgres://%s@/postgres?host=%s&port=%d&sslmode=disable", url.User(user).String(), url.QueryEscape(dir), port)
}

// StartCluster starts (creating if needed) a cluster in stateDir/pg listening
// on 127.0.0.1:port and on a socket in stateDir/pg/run, and returns its
// maintenance database's URL, through the socket when that answers. initdb and
// postgres refuse to run as root, so as root the cluster belongs to the
// "postgres" system user (or "nobody").
func StartCluster(ctx context.Context, stateDir string, port int) (string, error) {
	bin, err := binDir()
	if err != nil {
		return "", err
	}
	root, err := filepath.Abs(filepath.Join(stateDir, "pg"))
	if err != nil {
		return "", err
	}
	data := filepath.Join(root, "data")
	sock := filepath.Join(root, "run")
	owner, err := clusterOwner()
	if err != nil {
		return "", err
	}
	candidates := []string{socketURL("postgres", sock, port), fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)}
	answering := func() (string, error) {
		var err error
		for _, u := range candidates {
			if err = ping(ctx, u); err == nil {
				return u, nil
			}
		}
		return "", err
	}
	if u, err := answering(); err == nil {
		return u, nil
	}
	for _, d := range []string{root, sock} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	if owner != nil {
		if err := chownAll(root, owner); err != nil {
			return "", err
		}
	}
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		if err := run(ctx, owner, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"); err != nil {
			return "", fmt.Errorf("initdb: %w", err)
		}
	}
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=300", port, sock)
	if err := run(ctx, owner, filepath.Join(bin, "pg_ctl"), "-D", data, "-l", filepath.Join(root, "postgres.log"), "-o", opts, "-w", "-t", "60", "start"); err != nil {
		return "", fmt.Errorf("pg_ctl start (log in %s): %w", filepath.Join(root, "postgres.log"), err)
	}
	started.Store(true)
	u, err := answering()
	if err != nil {
		return "", fmt.Errorf("throwaway cluster started but does not answer: %w", err)
	}
	return u, nil
}

// started is set once this process has started a throwaway cluster (not
// found one running).
var started atomic.Bool

// StartedCluster reports whether this process started the throwaway
// cluster, which it may then stop when it ends.
func StartedCluster() bool { return started.Load() }

// StopCluster stops the throwaway cluster under stateDir, if it runs.
func StopCluster(ctx context.Context, stateDir string) error {
	bin, err := binDir()
	if err != nil {
		return err
	}
	data, _ := filepath.Abs(filepath.Join(stateDir, "pg", "data"))
	if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); err != nil {
		return nil
	}
	owner, err := clusterOwner()
	if err != nil {
		return err
	}
	return run(ctx, owner, filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop")
}

type osUser struct {
	name     string
	uid, gid int
}

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
	return nil, errors.New("running as root and neither a postgres nor a nobody user exists to own the throwaway cluster")
}

func chownAll(root string, u *osUser) error {
	return filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, u.uid, u.gid)
	})
}

func run(ctx context.Context, owner *osUser, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	if owner != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(owner.uid), Gid: uint32(owner.gid)}}
		cmd.Dir = "/"
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", filepath.Base(name), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// binDir finds the directory of initdb and pg_ctl: the newest
// /usr/lib/postgresql/*/bin (Debian), else pg_config --bindir, else PATH.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
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
	return "", errors.New("no PostgreSQL server binaries found (initdb): install the postgresql package or set DATABASE_URL")
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// FromEnvironment reports whether DATABASE_URL names the database to use.
func FromEnvironment() bool { return os.Getenv("DATABASE_URL") != "" }
