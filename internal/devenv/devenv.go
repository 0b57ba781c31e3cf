// Package devenv prepares a development environment under one state
// directory (.sinergi/ in the checkout): a database, migrated and seeded with
// the demo directory, the development PKI and the audit signing key. `make
// run` and the tests' server harness use it, so both set up the same way.
package devenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/devdb"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/pki"
	"github.com/sinergi-id/sinergi/internal/store"
)

// Env is a prepared environment.
type Env struct {
	StateDir string
	// DB is the development database, as each role reaches it.
	DB       Database
	PKIDir   string
	AuditKey string
}

// Database is one database's connection strings: the administrator's
// (a superuser, for setting up and for tests that tamper), and each role's.
type Database struct {
	Admin string
	store.Roles
}

// PKIDir is where the development certificates live.
func PKIDir(stateDir string) string { return filepath.Join(stateDir, "pki") }

// AuditKeyPath is where the development audit signing key lives.
func AuditKeyPath(stateDir string) string { return filepath.Join(stateDir, "pki", "audit-signing.key") }

// AuditVerifierKeyPath is where the development audit log's verifier key
// is written, for witnesses and auditors to pin.
func AuditVerifierKeyPath(stateDir string) string {
	return filepath.Join(stateDir, "pki", "audit-log.vkey")
}

// WriteAuditKeys creates the audit signing key unless it exists, and
// writes the log's verifier key beside it.
func WriteAuditKeys(stateDir, trustDomain string) error {
	if err := audit.WriteNewKey(AuditKeyPath(stateDir)); err != nil {
		return err
	}
	k, err := audit.LoadKey(AuditKeyPath(stateDir))
	if err != nil {
		return err
	}
	keys, err := audit.NewKeys(k, audit.DefaultOrigin(trustDomain))
	if err != nil {
		return err
	}
	return os.WriteFile(AuditVerifierKeyPath(stateDir), []byte(keys.VerifierKey()+"\n"), 0o644)
}

// OpenDatabase returns the development database, set up for the three
// roles and migrated: DATABASE_URL's database when it is set (its user
// must be able to create roles), else database "sinergi" on the server
// devdb finds or starts.
func OpenDatabase(ctx context.Context, stateDir string) (Database, error) {
	server, err := devdb.ServerURL(ctx, stateDir)
	if err != nil {
		return Database{}, err
	}
	name := "sinergi"
	if devdb.FromEnvironment() {
		cfg, err := pgx.ParseConfig(server)
		if err != nil {
			return Database{}, fmt.Errorf("DATABASE_URL: %w", err)
		}
		name = cfg.Database
		if server, err = devdb.WithDatabase(server, "postgres"); err != nil {
			return Database{}, err
		}
	}
	db, err := SetUp(ctx, server, name)
	if err != nil {
		return Database{}, err
	}
	if err := store.Migrate(ctx, db.Owner); err != nil {
		return Database{}, err
	}
	return db, nil
}

// SetUp makes database name on the server adminURL reaches (a superuser)
// ready for the roles: the roles exist as they must, and the database and
// everything in it belongs to the owner role. It does not migrate.
func SetUp(ctx context.Context, adminURL, name string) (Database, error) {
	if err := store.SetupRoles(ctx, adminURL); err != nil {
		return Database{}, err
	}
	adminDB, err := devdb.WithDatabase(adminURL, name)
	if err != nil {
		return Database{}, err
	}
	if err := store.CreateOwnedDatabase(ctx, adminURL, adminDB, name); err != nil {
		return Database{}, fmt.Errorf("database %s: %w", name, err)
	}
	return RolesOf(adminDB)
}

// RolesOf derives each role's connection string from the administrator's
// to the same database: the same server and database, the role's user.
func RolesOf(adminDB string) (Database, error) {
	d := Database{Admin: adminDB}
	var err error
	for _, p := range []struct {
		dst  *string
		role string
	}{{&d.Owner, store.OwnerRole}, {&d.App, store.AppRole}, {&d.Integrator, store.IntegratorRole}} {
		if *p.dst, err = devdb.WithUser(adminDB, p.role); err != nil {
			return Database{}, err
		}
	}
	return d, nil
}

// Prepare makes everything ready: database migrated and seeded with the
// demo directory, certificates for every institution, the audit key.
func Prepare(ctx context.Context, stateDir, trustDomain string) (*Env, error) {
	db, err := OpenDatabase(ctx, stateDir)
	if err != nil {
		return nil, err
	}
	if err := SeedDemo(ctx, db.App); err != nil {
		return nil, err
	}
	env := &Env{StateDir: stateDir, DB: db, PKIDir: PKIDir(stateDir), AuditKey: AuditKeyPath(stateDir)}
	if err := DevPKI(ctx, db.App, env.PKIDir, trustDomain); err != nil {
		return nil, err
	}
	if err := WriteAuditKeys(stateDir, trustDomain); err != nil {
		return nil, err
	}
	return env, nil
}

// SeedDemo writes the embedded demo directory.
func SeedDemo(ctx context.Context, url string) error {
	return Seed(ctx, url, directory.DemoSeed())
}

// Seed validates a seed file whole against the directory in the database
// and writes it in one transaction, or writes nothing.
func Seed(ctx context.Context, url string, data []byte) error {
	st, err := store.Open(ctx, url, store.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	defer st.Close()
	f, err := directory.ParseSeed(data)
	if err != nil {
		return err
	}
	d, err := st.LoadDirectory(ctx)
	if err != nil {
		return err
	}
	insts, agrs, err := f.Resolve(directory.NewSnapshot(d))
	if err != nil {
		return err
	}
	return st.SeedDirectory(ctx, insts, agrs)
}

// DevPKI issues whatever development certificates are missing: CA, server,
// and one per institution in the database's directory.
func DevPKI(ctx context.Context, url, dir, trustDomain string) error {
	st, err := store.Open(ctx, url, store.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := st.LoadDirectory(ctx)
	if err != nil {
		return err
	}
	codes := make([]string, len(d.Institutions))
	for i, in := range d.Institutions {
		codes[i] = in.GetCode()
	}
	if _, err := pki.DevPKI(dir, trustDomain, codes); err != nil {
		return fmt.Errorf("development PKI: %w", err)
	}
	return nil
}
