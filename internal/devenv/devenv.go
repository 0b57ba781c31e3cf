// Package devenv prepares a development environment under one state
// directory (.sinergi/ in the checkout): a database, migrated and seeded with
// the demo directory, the development PKI and the audit signing key. `make
// run` and the tests' server harness use it, so both set up the same way.
package devenv

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/devdb"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/pki"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Env is a prepared environment.
type Env struct {
	StateDir    string
	DatabaseURL string
	PKIDir      string
	AuditKey    string
}

// PKIDir is where the development certificates live.
func PKIDir(stateDir string) string { return filepath.Join(stateDir, "pki") }

// AuditKeyPath is where the development audit signing key lives.
func AuditKeyPath(stateDir string) string { return filepath.Join(stateDir, "pki", "audit-signing.key") }

// Database returns the URL of the development database: DATABASE_URL when
// set, else database "sinergi" on the server devdb finds or starts.
func Database(ctx context.Context, stateDir string) (string, error) {
	server, err := devdb.ServerURL(ctx, stateDir)
	if err != nil {
		return "", err
	}
	if devdb.FromEnvironment() {
		return server, nil
	}
	if err := devdb.EnsureDatabase(ctx, server, "sinergi"); err != nil {
		return "", err
	}
	return devdb.WithDatabase(server, "sinergi")
}

// Prepare makes everything ready: database migrated and seeded with the
// demo directory, certificates for every institution, the audit key.
func Prepare(ctx context.Context, stateDir, trustDomain string) (*Env, error) {
	url, err := Database(ctx, stateDir)
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx, url); err != nil {
		return nil, err
	}
	if _, err := SeedDemo(ctx, url, DevOperator); err != nil {
		return nil, err
	}
	env := &Env{StateDir: stateDir, DatabaseURL: url, PKIDir: PKIDir(stateDir), AuditKey: AuditKeyPath(stateDir)}
	if err := DevPKI(ctx, url, env.PKIDir, trustDomain); err != nil {
		return nil, err
	}
	if err := audit.WriteNewKey(env.AuditKey); err != nil {
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
func SeedDemo(ctx context.Context, url, operator string) ([]string, error) {
	return Seed(ctx, url, directory.DemoSeed(), "the demo directory", operator)
}

// Seed validates a seed file whole against the directory in the database
// and adds what is missing in one transaction, with an audit record naming
// operator (an NRP or NIP) and what was added, or writes nothing. An entry
// already registered must match the seed, and is left as it is. It
// returns the subjects added ("institution/<code>", "agreement/<id>").
func Seed(ctx context.Context, url string, data []byte, source, operator string) ([]string, error) {
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
	now := time.Now()
	// The audit record commits with the seed: its month's partition must exist.
	if err := st.EnsureAuditPartitions(ctx, now.AddDate(0, -1, 0), 15); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	e := audit.NewEntry(SeedMethod, "", now)
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
