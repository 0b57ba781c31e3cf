// Package devenv prepares a development environment under one state
// directory (.sinergi/ in the checkout): a database, migrated and seeded with
// the demo directory, the development PKI and the audit signing key. `make
// run` and the tests' server harness use it, so both set up the same way.
package devenv

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/devdb"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/pki"
	"github.com/sinergi-id/sinergi/internal/screening"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
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
	keys, err := LoadAuditKeys(AuditKeyPath(stateDir), trustDomain)
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
	if err := WriteAuditKeys(stateDir, trustDomain); err != nil {
		return nil, err
	}
	keys, err := LoadAuditKeys(AuditKeyPath(stateDir), trustDomain)
	if err != nil {
		return nil, err
	}
	if _, err := SeedDemo(ctx, db.App, keys, DevOperator); err != nil {
		return nil, err
	}
	if err := SeedDemoScreening(ctx, db.App, keys, DevOperator); err != nil {
		return nil, err
	}
	env := &Env{StateDir: stateDir, DB: db, PKIDir: PKIDir(stateDir), AuditKey: AuditKeyPath(stateDir)}
	if err := DevPKI(ctx, db.App, env.PKIDir, trustDomain); err != nil {
		return nil, err
	}
	return env, nil
}

// DevOperator is the officer (an NIP) on whose behalf `make run` and the
// tests seed the demo directory: a seed is an administrative act, and its
// audit record names who did it.
const DevOperator = "198001012006041001"

// SeedMethod names seeds in the audit trail: an administrative act made
// through the command line, not a call.
const SeedMethod = "sinergi:seed"

// SeedDemo adds what is missing of the embedded demo directory.
func SeedDemo(ctx context.Context, url string, keys *audit.Keys, operator string) ([]string, error) {
	return Seed(ctx, url, keys, directory.DemoSeed(), "the demo directory", operator)
}

// SeedDemoScreening adds what is missing of the demo screening lists and
// the demo high-risk designation (internal/screening), on behalf of
// operator, with their audit records sealed with keys.
func SeedDemoScreening(ctx context.Context, url string, keys *audit.Keys, operator string) error {
	st, err := store.Open(ctx, url, store.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := st.LoadDirectory(ctx)
	if err != nil {
		return err
	}
	return screening.SeedDemo(ctx, st, audit.NewSealer(keys, st), directory.NewSnapshot(d), operator, time.Now())
}

// EphemeralKeys are audit keys made up for a database no server will
// serve (a test's): what they seal verifies with nothing else.
func EphemeralKeys() *audit.Keys {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	k, err := audit.NewKeys(priv, "ephemeral/audit")
	if err != nil {
		panic(err)
	}
	return k
}

// LoadAuditKeys loads the audit log's keys from the signing key at path.
func LoadAuditKeys(path, trustDomain string) (*audit.Keys, error) {
	k, err := audit.LoadKey(path)
	if err != nil {
		return nil, err
	}
	return audit.NewKeys(k, audit.DefaultOrigin(trustDomain))
}

// Seed validates a seed file whole against the directory in the database
// and adds what is missing in one transaction, with an audit record naming
// operator (an NRP or NIP) and what was added, or writes nothing. An entry
// already registered must match the seed, and is left as it is. It
// returns the subjects added ("institution/<code>", "agreement/<id>").
// The audit record is sealed with keys, as the server's are.
func Seed(ctx context.Context, url string, keys *audit.Keys, data []byte, source, operator string) ([]string, error) {
	if !authz.OperatorIDValid(operator) {
		return nil, fmt.Errorf("seed: --operator-id %q is not the officer's NRP (8 digits) or NIP (18 digits): a seed is an administrative act and its audit record names who made it", operator)
	}
	st, err := store.Open(ctx, url, store.Options{MaxConns: 2})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	f, err := directory.ParseSeed(data)
	if err != nil {
		return nil, err
	}
	d, err := st.LoadDirectory(ctx)
	if err != nil {
		return nil, err
	}
	insts, agrs, err := f.Resolve(directory.NewSnapshot(d))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	e := audit.NewSealer(keys, st).NewEntry(SeedMethod, "")
	e.SetAccess(operator, strings.TrimPrefix(sinergiv1.Purpose_PURPOSE_ADMINISTRATION.String(), "PURPOSE_"), "")
	e.Allow(fmt.Sprintf("seed of %s (sha256 %x): %d institutions and %d agreements given, the missing ones added",
		source, sum[:8], len(insts), len(agrs)))
	return st.SeedDirectory(ctx, e, insts, agrs, operator)
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
