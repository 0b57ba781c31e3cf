// Command sinergi is the Sinergi server and its administration commands.
//
//	sinergi serve         run the gRPC server (mutual TLS)
//	sinergi migrate       apply the database migrations
//	sinergi seed FILE     add missing institutions and agreements (YAML or JSON); --demo for the demo directory
//	sinergi dev-pki       issue development certificates for every institution
//	sinergi revoke-cert   revoke a client certificate by serial (or by file)
//	sinergi audit verify  verify the audit hash chain and its checkpoints
//	sinergi audit retain  drop audit months past retention
//	sinergi dev-db        print (starting it if needed) the development database URL
//	sinergi demo-data     fill the demo facilities with synthetic people
//	sinergi dev           everything `make run` needs, then serve
//
// Every flag has a SINERGI_* environment fallback; DATABASE_URL names the database.
package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sinergi-id/sinergi/internal/demodata"
	"github.com/sinergi-id/sinergi/internal/devdb"
	"github.com/sinergi-id/sinergi/internal/devenv"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/pki"
	"github.com/sinergi-id/sinergi/internal/screening"
	"github.com/sinergi-id/sinergi/internal/server"
	"github.com/sinergi-id/sinergi/internal/store"
)

const stateDir = ".sinergi"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sinergi:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

const usage = `usage: sinergi <command> [flags]

commands:
  serve         run the gRPC server over mutual TLS
  migrate       apply the database migrations
  seed FILE     add the missing institutions and agreements of a YAML or JSON file (--demo: the embedded demo
                directory); --operator-id names the officer in the audit trail; a registered entry is never changed
  dev-pki       issue development certificates (CA, server, one per institution)
  revoke-cert   revoke a client certificate: --serial HEX or --cert FILE
  audit verify  walk the audit hash chain and checkpoints; exit 1 on the first break
  audit retain  drop audit months older than the retention
  dev-db        print the development database URL, starting a throwaway cluster if needed (--stop stops it)
  demo-data     fill the facilities with synthetic people: --people N (fictional names, valid NIKs, plausible cases)
  dev           prepare everything (database, demo directory, certificates) and serve: what make run does

Run 'sinergi <command> -h' for its flags.`

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageError{usage}
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, args, false)
	case "dev":
		return serve(ctx, args, true)
	case "migrate":
		fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
		db := fs.String("database-url", env("SINERGI_OWNER_DATABASE_URL", ""), "database, as the owner role sinergi_owner (SINERGI_OWNER_DATABASE_URL)")
		if err := fs.Parse(args); err != nil {
			return usageError{err.Error()}
		}
		url, err := roleURL(ctx, *db, ownerRole)
		if err != nil {
			return err
		}
		if err := store.Migrate(ctx, url); err != nil {
			return err
		}
		fmt.Println("migrations applied")
		return nil
	case "seed":
		fs := flag.NewFlagSet("seed", flag.ContinueOnError)
		db := fs.String("database-url", env("DATABASE_URL", ""), "database, as the server's role sinergi_app (DATABASE_URL)")
		demo := fs.Bool("demo", false, "load the embedded demo directory")
		auditKey := fs.String("audit-key", env("SINERGI_AUDIT_KEY", devenv.AuditKeyPath(stateDir)), "the audit log's signing key, which seals the seed's audit record (SINERGI_AUDIT_KEY)")
		seedTD := fs.String("trust-domain", env("SINERGI_TRUST_DOMAIN", pki.DefaultTrustDomain), "SPIFFE trust domain (SINERGI_TRUST_DOMAIN)")
		operator := fs.String("operator-id", env("SINERGI_OPERATOR_ID", ""), "the officer who makes this administrative act, NRP or NIP; recorded in the audit trail (SINERGI_OPERATOR_ID)")
		if err := fs.Parse(args); err != nil {
			return usageError{err.Error()}
		}
		if *operator == "" {
			return usageError{"usage: sinergi seed --operator-id NRP|NIP FILE (or --demo): a seed is an administrative act, and its audit record names the officer"}
		}
		var data []byte
		source := "the demo directory"
		switch {
		case *demo && fs.NArg() == 0:
			data = directory.DemoSeed()
		case !*demo && fs.NArg() == 1:
			var err error
			if data, err = os.ReadFile(fs.Arg(0)); err != nil {
				return err
			}
			source = fs.Arg(0)
		default:
			return usageError{"usage: sinergi seed --operator-id NRP|NIP FILE (or --demo)"}
		}
		url, err := roleURL(ctx, *db, appRole)
		if err != nil {
			return err
		}
		keys, err := logKeys(*auditKey, "", *seedTD)
		if err != nil {
			return err
		}
		added, err := devenv.Seed(ctx, url, keys, data, source, *operator)
		if err != nil {
			return err
		}
		if len(added) == 0 {
			fmt.Println("seeded", source+": nothing missing, nothing changed")
			return nil
		}
		fmt.Printf("seeded %s: added %s\n", source, strings.Join(added, ", "))
		return nil
	case "dev-pki":
		fs := flag.NewFlagSet("dev-pki", flag.ContinueOnError)
		db := fs.String("database-url", env("DATABASE_URL", ""), "database whose institutions get certificates (DATABASE_URL)")
		dir := fs.String("dir", env("SINERGI_PKI_DIR", devenv.PKIDir(stateDir)), "output directory (SINERGI_PKI_DIR)")
		td := fs.String("trust-domain", env("SINERGI_TRUST_DOMAIN", pki.DefaultTrustDomain), "SPIFFE trust domain (SINERGI_TRUST_DOMAIN)")
		if err := fs.Parse(args); err != nil {
			return usageError{err.Error()}
		}
		url, err := roleURL(ctx, *db, appRole)
		if err != nil {
			return err
		}
		if err := devenv.DevPKI(ctx, url, *dir, *td); err != nil {
			return err
		}
		if err := devenv.WriteAuditKeys(stateDir, *td); err != nil {
			return err
		}
		fmt.Println("development certificates in", *dir)
		return nil
	case "revoke-cert":
		return revokeCert(ctx, args)
	case "demo-data":
		return demoData(ctx, args)
	case "audit":
		return auditCmd(ctx, args)
	case "witness":
		return witnessCmd(ctx, args)
	case "db-setup":
		return dbSetup(ctx, args)
	case "dev-db":
		fs := flag.NewFlagSet("dev-db", flag.ContinueOnError)
		stopIt := fs.Bool("stop", false, "stop the throwaway cluster under .sinergi/pg")
		if err := fs.Parse(args); err != nil {
			return usageError{err.Error()}
		}
		if *stopIt {
			return devdb.StopCluster(ctx, stateDir)
		}
		db, err := devenv.OpenDatabase(ctx, stateDir)
		if err != nil {
			return err
		}
		fmt.Printf("admin      %s\nowner      %s\napp        %s\nintegrator %s\n", db.Admin, db.Owner, db.App, db.Integrator)
		return nil
	case "help", "-h", "--help":
		fmt.Println(usage)
		return nil
	}
	return usageError{"unknown command " + cmd + "\n" + usage}
}

// roleURL is the flag's value, else the development database as one role.
func roleURL(ctx context.Context, flagValue string, role func(devenv.Database) string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	db, err := devenv.OpenDatabase(ctx, stateDir)
	if err != nil {
		return "", err
	}
	return role(db), nil
}

func ownerRole(d devenv.Database) string      { return d.Owner }
func appRole(d devenv.Database) string        { return d.App }
func integratorRole(d devenv.Database) string { return d.Integrator }

func serve(ctx context.Context, args []string, dev bool) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", env("SINERGI_ADDR", "127.0.0.1:7443"), "gRPC listen address (SINERGI_ADDR)")
	metrics := fs.String("metrics-addr", env("SINERGI_METRICS_ADDR", "127.0.0.1:9090"), "Prometheus /metrics address, empty to disable (SINERGI_METRICS_ADDR)")
	db := fs.String("database-url", env("DATABASE_URL", ""), "database, as the server's role sinergi_app (DATABASE_URL)")
	integratorDB := fs.String("integrator-database-url", env("SINERGI_INTEGRATOR_DATABASE_URL", ""),
		"database, as the audit integrator's role sinergi_integrator; empty: this process does not integrate the audit log (SINERGI_INTEGRATOR_DATABASE_URL)")
	origin := fs.String("audit-origin", env("SINERGI_AUDIT_ORIGIN", ""), "the audit log's name in its checkpoints; default <trust-domain>/audit (SINERGI_AUDIT_ORIGIN)")
	pkiDir := devenv.PKIDir(stateDir)
	cert := fs.String("cert", env("SINERGI_CERT", pki.ServerCertPath(pkiDir)), "server certificate (SINERGI_CERT)")
	key := fs.String("key", env("SINERGI_KEY", pki.ServerKeyPath(pkiDir)), "server key (SINERGI_KEY)")
	ca := fs.String("ca", env("SINERGI_CA", pki.CACertPath(pkiDir)), "CA bundle client certificates are verified against (SINERGI_CA)")
	td := fs.String("trust-domain", env("SINERGI_TRUST_DOMAIN", pki.DefaultTrustDomain), "SPIFFE trust domain (SINERGI_TRUST_DOMAIN)")
	auditKey := fs.String("audit-key", env("SINERGI_AUDIT_KEY", devenv.AuditKeyPath(stateDir)), "Ed25519 key signing audit checkpoints (SINERGI_AUDIT_KEY)")
	retention := fs.Duration("audit-retention", envDuration("SINERGI_AUDIT_RETENTION", 2*365*24*time.Hour), "how long audit records are kept, at least 8760h (SINERGI_AUDIT_RETENTION)")
	grace := fs.Duration("shutdown-grace", envDuration("SINERGI_SHUTDOWN_GRACE", 15*time.Second), "time in-flight calls get on SIGTERM (SINERGI_SHUTDOWN_GRACE)")
	migrate := fs.String("migrate", env("SINERGI_MIGRATE", ""), "apply migrations at start-up, as the owner role at this database url (SINERGI_MIGRATE)")
	logLevel := fs.String("log-level", env("SINERGI_LOG_LEVEL", "info"), "debug (a line per call), info (failed calls and service events), warn or error (SINERGI_LOG_LEVEL)")
	pprofOn := fs.Bool("pprof", env("SINERGI_PPROF", "false") == "true", "serve /debug/pprof on the metrics address (SINERGI_PPROF)")
	maxConns := fs.Int("db-max-conns", envInt("SINERGI_DB_MAX_CONNS", 32), "database connections in the pool (SINERGI_DB_MAX_CONNS)")
	gcPercent := fs.Int("gc-percent", envInt("SINERGI_GC_PERCENT", defaultGCPercent), "heap growth between garbage collections, in percent, as GOGC (SINERGI_GC_PERCENT; GOGC, when set, wins)")
	memLimit := fs.Int("memory-limit-mib", envInt("SINERGI_MEMORY_LIMIT_MIB", defaultMemoryLimitMiB), "soft limit on the server's memory, in MiB, as GOMEMLIMIT: past it the heap is collected sooner; 0 for none (SINERGI_MEMORY_LIMIT_MIB; GOMEMLIMIT, when set, wins)")
	screenRate := fs.Int("screening-rate", envInt("SINERGI_SCREENING_RATE", screening.DefaultLimit.PerMinute),
		"screenings one facility may make a minute, in this process (SINERGI_SCREENING_RATE)")
	screenBurst := fs.Int("screening-burst", envInt("SINERGI_SCREENING_BURST", screening.DefaultLimit.Burst),
		"screenings one facility may make at once (SINERGI_SCREENING_BURST)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *screenRate <= 0 || *screenBurst <= 0 {
		return usageError{"--screening-rate and --screening-burst must be positive"}
	}
	if *gcPercent <= 0 || *memLimit < 0 {
		return usageError{"--gc-percent must be positive and --memory-limit-mib not negative"}
	}
	tuneGC(*gcPercent, *memLimit)
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageError{"--log-level: " + err.Error()}
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	url, iurl := *db, *integratorDB
	if dev {
		log.Info("preparing the development environment", "state", stateDir)
		e, err := devenv.Prepare(ctx, stateDir, *td)
		if err != nil {
			return err
		}
		url, iurl = e.DB.App, e.DB.Integrator
		if err := demoPeopleIfEmpty(ctx, url, log); err != nil {
			return err
		}
	} else if url == "" {
		d, err := devenv.OpenDatabase(ctx, stateDir)
		if err != nil {
			return err
		}
		url = d.App
		if iurl == "" {
			iurl = d.Integrator
		}
	}
	if *migrate != "" && !dev {
		if err := store.Migrate(ctx, *migrate); err != nil {
			return err
		}
	}
	srv, err := server.New(ctx, server.Config{
		Addr: *addr, MetricsAddr: *metrics, DatabaseURL: url, IntegratorDatabaseURL: iurl, TrustDomain: *td,
		TLS: pki.Files{Cert: *cert, Key: *key, CA: *ca}, AuditKeyPath: *auditKey, AuditOrigin: *origin,
		Retention: *retention, ShutdownGrace: *grace, Log: log, MaxConns: int32(*maxConns), Pprof: *pprofOn,
		ScreeningLimit: screening.Limit{PerMinute: *screenRate, Burst: *screenBurst},
	})
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	log.Info("sinergi serving", "addr", srv.Addr(), "metrics", srv.MetricsAddr())
	if dev {
		fmt.Fprintf(os.Stderr, devBanner, srv.Addr(), srv.MetricsAddr(), srv.Addr(), srv.Addr())
	}
	return srv.Serve(ctx)
}

// The server's garbage collector runs on a heap that is mostly short-lived
// call state (about 25 KB a call) over a live heap of a few MB. With Go's
// default (GOGC=100) a busy server collected many times a second and spent
// about a third of its CPU on allocation and collection, on cores it shares
// with PostgreSQL. It lets the heap grow fourfold between collections; a
// soft memory limit makes it collect sooner when a large job (a roster
// upload) fills it. Measured with make bench, GetCustodyRecord at 64
// callers: GOGC 100 about 6 000/s; GOGC 1000 about 7 800/s. Past that the
// tail grows with the heap: p99 29-30 ms at GOGC 4000, 24-26 ms at 1000,
// 21-24 ms at 300 (at the same rate and CPU per call), 24-25 ms at 150.
const (
	defaultGCPercent      = 300
	defaultMemoryLimitMiB = 192
)

// tuneGC applies the garbage collector settings unless the operator set
// GOGC or GOMEMLIMIT, which the Go runtime has applied already.
func tuneGC(percent, limitMiB int) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(percent)
	}
	if os.Getenv("GOMEMLIMIT") == "" && limitMiB > 0 {
		debug.SetMemoryLimit(int64(limitMiB) << 20)
	}
}

const devBanner = `
Sinergi is running on %s (gRPC, mutual TLS), metrics on http://%s/metrics.
Certificates for every demo institution are in .sinergi/pki. Try, in another terminal:

  .sinergi/bin/sinergictl --as polres-metro institution list-institutions
  .sinergi/bin/sinergictl --as polres-kutai-kartanegara agreement check-coverage \
      --counterpart-code lpka-tenggarong --scope incident-reports --at-time 2024-06-01
  .sinergi/bin/sinergictl --as lapas-cipinang screening list-high-risk-designations
  grpcurl -cacert .sinergi/pki/ca.crt -cert .sinergi/pki/mabes-polri.crt -key .sinergi/pki/mabes-polri.key %s list
  grpcurl -cacert .sinergi/pki/ca.crt -cert .sinergi/pki/mabes-polri.crt -key .sinergi/pki/mabes-polri.key %s grpc.health.v1.Health/Check

Stop with Ctrl-C; running make run again reuses .sinergi/.
`

func revokeCert(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("revoke-cert", flag.ContinueOnError)
	db := fs.String("database-url", env("DATABASE_URL", ""), "database (DATABASE_URL)")
	serial := fs.String("serial", "", "certificate serial, hexadecimal")
	certFile := fs.String("cert", "", "or: the certificate file")
	reason := fs.String("reason", "", "why (kept with the revocation)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	s := strings.ToLower(strings.TrimPrefix(*serial, "0x"))
	if *certFile != "" {
		b, err := os.ReadFile(*certFile)
		if err != nil {
			return err
		}
		block, _ := pem.Decode(b)
		if block == nil {
			return fmt.Errorf("%s: no PEM certificate", *certFile)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return err
		}
		s = pki.SerialHex(c)
	}
	if s == "" {
		return usageError{"give --serial or --cert"}
	}
	url, err := roleURL(ctx, *db, appRole)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, url, store.Options{MaxConns: 1})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.RevokeCertificate(ctx, s, *reason); err != nil {
		return err
	}
	fmt.Println("revoked certificate", s)
	return nil
}

// demoPeople is how many synthetic people `make run` starts with.
const demoPeople = 300

func demoData(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo-data", flag.ContinueOnError)
	db := fs.String("database-url", env("DATABASE_URL", ""), "database (DATABASE_URL)")
	people := fs.Int("people", demoPeople, "how many people, spread over the facilities")
	seed := fs.Uint64("seed", 1, "the same seed (in the same month) gives the same people")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *people < 0 {
		return usageError{"--people must not be negative"}
	}
	url, err := roleURL(ctx, *db, appRole)
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := loadDemoPeople(ctx, url, *seed, *people)
	if err != nil {
		return err
	}
	var ins, upd, same int64
	for _, r := range res {
		fmt.Printf("%-24s inserted %7d  updated %7d  unchanged %7d\n", r.Facility, r.Inserted, r.Updated, r.Unchanged)
		ins, upd, same = ins+r.Inserted, upd+r.Updated, same+r.Unchanged
	}
	fmt.Printf("%d people: %d inserted, %d updated, %d unchanged in %s\n", *people, ins, upd, same, time.Since(start).Round(time.Millisecond))
	return nil
}

func loadDemoPeople(ctx context.Context, url string, seed uint64, people int) ([]demodata.Result, error) {
	st, err := store.Open(ctx, url, store.Options{MaxConns: 2})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	d, err := st.LoadDirectory(ctx)
	if err != nil {
		return nil, err
	}
	facilities := demodata.FacilitiesOf(d.Institutions)
	if len(facilities) == 0 {
		return nil, errors.New("the directory has no facility with a region: seed it first (sinergi seed --demo)")
	}
	// People are made as of the first of the month, so that a seed gives
	// the same people all month and loading again changes nothing.
	now := time.Now().UTC()
	anchor := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	return demodata.Load(ctx, st, seed, people, facilities, anchor)
}

// demoPeopleIfEmpty gives `make run` a few hundred people the first time.
func demoPeopleIfEmpty(ctx context.Context, url string, log *slog.Logger) error {
	st, err := store.Open(ctx, url, store.Options{MaxConns: 1})
	if err != nil {
		return err
	}
	n, err := st.CountCustodyRecords(ctx, nil)
	st.Close()
	if err != nil || n > 0 {
		return err
	}
	if _, err := loadDemoPeople(ctx, url, 1, demoPeople); err != nil {
		return fmt.Errorf("demo people: %w", err)
	}
	log.Info("loaded synthetic demo people", "people", demoPeople)
	return nil
}
