// Package store owns every SQL statement of Sinergi: the schema migrations,
// the directory of institutions and agreements, and the audit trail tables.
// It knows PostgreSQL and the protobuf messages it stores; it never knows gRPC.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a row with the same key exists.
var ErrConflict = errors.New("already exists")

// Store is the database behind one server process.
type Store struct {
	Pool *pgxpool.Pool
	// batch runs the statements that serve many callers at once: the audit
	// trail's group commit and the shared custody record lookups. Its
	// sessions use generic plans: those statements' plans never depend on
	// their parameters, and planning them afresh on every execution (what
	// PostgreSQL chooses for array parameters) was about a sixth of the
	// database's CPU under load.
	batch   *pgxpool.Pool
	records recordLookups
	// integrator is how Lead connects as the audit integrator role.
	integrator *pgx.ConnConfig
}

// batchConns: the lookups in flight, the audit flushers, one to spare.
const batchConns = lookupsInFlight + 2

// Options tune the pool.
type Options struct {
	// MaxConns caps the pool (default 32). The shared statements have a
	// pool of their own besides, of batchConns connections.
	MaxConns int32
	// IntegratorURL is the audit integrator role's connection string, for
	// the loops that lead as it (Lead with AsIntegrator).
	IntegratorURL string
}

// Open connects to databaseURL. It may list several servers, a primary
// and its standbys (host=a,b, or postgres://a:5432,b:5432/db): every
// connection, the pools', Lead's and the listeners', then goes to whichever
// takes writes at the time it is made (forPrimary), so that after a
// promotion new connections find the new primary; broken ones are dropped.
func Open(ctx context.Context, databaseURL string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	cfg.MaxConns = 32
	forPrimary(&cfg.ConnConfig.Config)
	// A write waiting on a lock (say, an audit table held by a maintenance
	// job) fails after this instead of hanging: the call then fails closed.
	if _, set := cfg.ConnConfig.RuntimeParams["lock_timeout"]; !set {
		cfg.ConnConfig.RuntimeParams["lock_timeout"] = "5s"
	}
	noJIT(cfg.ConnConfig.RuntimeParams)
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	var integrator *pgx.ConnConfig
	if opts.IntegratorURL != "" {
		if integrator, err = pgx.ParseConfig(opts.IntegratorURL); err != nil {
			return nil, fmt.Errorf("parse integrator database url: %w", err)
		}
		forPrimary(&integrator.Config)
		noJIT(integrator.RuntimeParams)
	}
	bcfg := cfg.Copy()
	bcfg.MaxConns = batchConns
	bcfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	batch, err := pgxpool.NewWithConfig(ctx, bcfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	s := &Store{Pool: pool, batch: batch, integrator: integrator}
	s.records = recordLookups{pool: batch, inFlight: lookupsInFlight, maxBatch: 256}
	return s, nil
}

// Close closes the pools.
func (s *Store) Close() {
	s.Pool.Close()
	s.batch.Close()
}

// ErrNotLeader is returned by Lead when another process holds the lock.
var ErrNotLeader = errors.New("another process leads")

// Lead runs fn on a connection of its own that holds the session advisory
// lock lockKey, as the audit integrator role when asIntegrator is set and
// as the server's role otherwise: the one leader of a loop that several
// server processes run. It returns ErrNotLeader at once when another
// process holds the lock. If the connection is lost, so is the lock, and
// fn's statements fail: a leader cannot go on writing after another has
// taken over.
func (s *Store) Lead(ctx context.Context, lockKey int64, asIntegrator bool, fn func(ctx context.Context, db DB) error) error {
	conn, err := s.connect(ctx, asIntegrator)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockKey).Scan(&got); err != nil {
		return err
	}
	if !got {
		return ErrNotLeader
	}
	return fn(ctx, conn)
}

// AsIntegrator runs fn on a connection of its own as the integrator role,
// leading nothing: for work that serializes itself in the database.
func (s *Store) AsIntegrator(ctx context.Context, fn func(ctx context.Context, db DB) error) error {
	conn, err := s.connect(ctx, true)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return fn(ctx, conn)
}

// connect opens a connection of its own, as the application's role or the
// integrator's.
func (s *Store) connect(ctx context.Context, asIntegrator bool) (*pgx.Conn, error) {
	cfg := s.Pool.Config().ConnConfig
	if asIntegrator {
		if s.integrator == nil {
			return nil, errors.New("no integrator database url configured")
		}
		cfg = s.integrator
	}
	return pgx.ConnectConfig(ctx, cfg.Copy())
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return s.Pool.Ping(ctx)
}

// Migrate applies every embedded migration not yet applied to databaseURL.
func Migrate(ctx context.Context, databaseURL string) error {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return fmt.Errorf("parse database url: %w", err)
	}
	forPrimary(&cfg.Config)
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	return migrate(ctx, db)
}

func migrate(ctx context.Context, db *sql.DB) error {
	provider, err := goose.NewProvider(goose.DialectPostgres, db, mustSub(migrations, "migrations"))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// MigrationsDigest identifies the embedded migrations, so that test
// templates built from other migrations are never reused.
func MigrationsDigest() string {
	entries, _ := migrations.ReadDir("migrations")
	h := newDigest()
	for _, e := range entries {
		b, _ := migrations.ReadFile("migrations/" + e.Name())
		h.add(e.Name(), b)
	}
	return h.hex()
}

// inTx runs fn in a transaction.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.Pool, pgx.TxOptions{}, fn)
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// isUniqueViolationOf reports whether err is a unique violation of the
// constraint (or unique index) named constraint.
func isUniqueViolationOf(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == constraint
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// LeadPasses runs pass again and again while this process holds the lock
// lockKey, until ctx ends: at once again after a full pass (one that did
// full items: more may be waiting), else after interval. Without the
// lock, or after a failure (given to failed), it tries again half a
// second later. It is the loop of the workers that one process at a time
// runs for all (escalations, notices).
func (s *Store) LeadPasses(ctx context.Context, lockKey int64, interval time.Duration, full int,
	pass func(ctx context.Context, db DB) (int, error), failed func(error)) {
	for ctx.Err() == nil {
		err := s.Lead(ctx, lockKey, false, func(ctx context.Context, db DB) error {
			for {
				n, err := pass(ctx, db)
				if err != nil {
					return err
				}
				if n == full {
					continue
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(interval):
				}
			}
		})
		if ctx.Err() != nil {
			return
		}
		if err != nil && !errors.Is(err, ErrNotLeader) {
			failed(err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// noJIT turns PostgreSQL's JIT compilation off for the service's
// connections, unless the connection string sets it. Every statement the
// service runs reads a few rows through an index, but over the audit
// trail's monthly partitions the planner's cost estimates pass the JIT
// thresholds, and compiling and optimizing a statement took far longer
// than running it, on every call of a generic plan (docs/performance.md).
func noJIT(params map[string]string) {
	if _, set := params["jit"]; !set {
		params["jit"] = "off"
	}
}
