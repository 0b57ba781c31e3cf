// Package pgtest gives each test package its own PostgreSQL database,
// cloned from a template migrated once per migration set (openfga's
// createdb -T template), on the server `make test` finds or starts
// (internal/devdb), and dropped when the package's tests end.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sinergi-id/sinergi/internal/devdb"
	"github.com/sinergi-id/sinergi/internal/devenv"
	"github.com/sinergi-id/sinergi/internal/store"
)

// templateLock serialises template creation and cloning across the test
// packages that `go test ./...` runs in parallel.
const templateLock = 0x5347_5445_5354 // "SGTEST"

// DB is one test package's database.
type DB struct {
	// URL reaches it as the server's administrator (a superuser): for
	// setting up, and for tests that tamper behind the server's back.
	URL       string
	ServerURL string
	Name      string
	// Roles reach it as the owner, the server and the audit integrator.
	store.Roles
}

// StateDir is the repository's .sinergi directory (for the throwaway cluster).
func StateDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", ".sinergi")
}

// Main creates the package's database, runs the tests, drops it, exits.
// Use it as TestMain: func TestMain(m *testing.M) { pgtest.Main(m, &db) }.
func Main(m *testing.M, out **DB) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	db, err := New(ctx, "")
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		os.Exit(1)
	}
	*out = db
	code := m.Run()
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	if err := db.Drop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest: drop:", err)
	}
	cancel()
	os.Exit(code)
}

// New creates a fresh database cloned from the migrated template. The
// name gets a suffix (may be empty) to tell several apart.
func New(ctx context.Context, suffix string) (*DB, error) {
	server, err := devdb.ServerURL(ctx, StateDir())
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return nil, fmt.Errorf("connect to test server: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(templateLock)); err != nil {
		return nil, err
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(templateLock)) //nolint:errcheck

	if err := store.SetupRoles(ctx, server); err != nil {
		return nil, err
	}
	tmpl := "sinergi_tmpl_" + store.MigrationsDigest()
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, tmpl).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		if err := buildTemplate(ctx, conn, server, tmpl); err != nil {
			return nil, err
		}
	}
	name := fmt.Sprintf("sinergi_test_%s_%d_%d", pkgName(), os.Getpid(), time.Now().UnixNano()%1e6)
	if suffix != "" {
		name += "_" + suffix
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s OWNER %s", pgx.Identifier{name}.Sanitize(),
		pgx.Identifier{tmpl}.Sanitize(), pgx.Identifier{store.OwnerRole}.Sanitize())); err != nil {
		return nil, fmt.Errorf("clone template: %w", err)
	}
	url, err := devdb.WithDatabase(server, name)
	if err != nil {
		return nil, err
	}
	roles, err := devenv.RolesOf(url)
	if err != nil {
		return nil, err
	}
	return &DB{URL: url, ServerURL: server, Name: name, Roles: roles.Roles}, nil
}

func buildTemplate(ctx context.Context, conn *pgx.Conn, server, tmpl string) error {
	building := tmpl + "_building"
	_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{building}.Sanitize())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{building}.Sanitize()+" OWNER "+pgx.Identifier{store.OwnerRole}.Sanitize()); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	url, err := devdb.WithDatabase(server, building)
	if err != nil {
		return err
	}
	owner, err := devdb.WithUser(url, store.OwnerRole)
	if err != nil {
		return err
	}
	if err := store.Migrate(ctx, owner); err != nil {
		return err
	}
	// Renaming makes the template appear whole or not at all.
	if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", pgx.Identifier{building}.Sanitize(), pgx.Identifier{tmpl}.Sanitize())); err != nil {
		return fmt.Errorf("finish template: %w", err)
	}
	return nil
}

// Drop drops the database, closing any connection left to it.
func (d *DB) Drop(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, d.ServerURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{d.Name}.Sanitize()+" WITH (FORCE)")
	return err
}

func pkgName() string {
	wd, _ := os.Getwd()
	return strings.NewReplacer("-", "_", ".", "_").Replace(filepath.Base(wd))
}

// Fresh gives one test a database of its own, for tests that change the
// directory or break things and would disturb the package's other tests.
// It is dropped when the test ends.
func Fresh(t testing.TB) *DB {
	t.Helper()
	d, err := New(context.Background(), strings.ToLower(strings.NewReplacer("/", "_", "-", "_").Replace(t.Name())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Drop(context.Background()) })
	return d
}
