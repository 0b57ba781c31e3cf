// Package devenv prepares a development environment under one state
// directory (.sinergi/ in the checkout): a database, migrated and seeded with
// the demo directory, the development PKI and the audit signing key. `make
// run` and the tests' server harness use it, so both set up the same way.
package devenv

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/devdb"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/pki"
	"github.com/sinergi-id/sinergi/internal/store"
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
	if err := SeedDemo(ctx, url); err != nil {
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
