// Command sinergi is the Sinergi server and its administration commands.
//
//	sinergi serve         run the gRPC server (mutual TLS)
//	sinergi migrate       apply the database migrations
//	sinergi seed FILE     add missing institutions and agreements (YAML or JSON); --demo for the demo directory
//	sinergi dev-pki       issue development certificates for every institution
//	sinergi revoke-cert   revoke client certificates (serial, file or CRL), or list revocations
//	sinergi certs         list the client certificates seen in use and their expiry
//	sinergi audit verify  verify the audit Merkle log, its records and checkpoints (--witness-state: against witnesses)
//	sinergi audit check   check one disclosure's inclusion with the API alone
//	sinergi audit retain  drop audit months past retention
//	sinergi witness       keep a witness's own state of the audit log and cosign its checkpoints
//	sinergi db-setup      create the database and its least-privilege roles
//	sinergi dev-db        print (starting it if needed) the development database URL
//	sinergi demo-data     fill the demo facilities with synthetic people
//	sinergi dev           everything `make run` needs, then serve
//
// Every flag has a SINERGI_* environment fallback; DATABASE_URL names the database.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/demodata"
	"github.com/sinergi-id/sinergi/internal/devdb"
	"github.com/sinergi-id/sinergi/internal/devenv"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/pki"
	"github.com/sinergi-id/sinergi/internal/screening"
	"github.com/sinergi-id/sinergi/internal/server"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
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
  revoke-cert   revoke client certificates: --serial HEX, --cert FILE or --crl FILE; --list lists them
  certs         list the client certificates seen in use, by institution, with their expiry
  audit verify  verify the audit Merkle log: every record's MAC and leaf, the tree, the signed checkpoints, and
                (--witness-state FILE, repeatable) consistency with what witnesses hold; exit 1 naming the first break
  audit check   check that one disclosure is in the log, with the API and the log's public key alone
  audit retain  drop audit months older than the retention
  witness       key | register | run: a counterpart's witness, holding its own state of the log and cosigning
  db-setup      create the database and the owner, server and integrator roles (--admin-url)
  dev-db        print the development database URL, starting a throwaway cluster if needed (--stop stops it)
  demo-data     fill the facilities with synthetic people: --people N (fictional names, valid NIKs, plausible cases),
                and give each facility without one a demo firearms register
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
	case "certs":
		return certsCmd(ctx, args)
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
	httpAddr := fs.String("http-addr", env("SINERGI_HTTP_ADDR", "127.0.0.1:7444"),
		"HTTP/JSON (Connect protocol) and gRPC-Web listen address, mutual TLS with the same certificates; empty to disable (SINERGI_HTTP_ADDR)")
	db := fs.String("database-url", env("DATABASE_URL", ""), "database, as the server's role sinergi_app (DATABASE_URL)")
	integratorDB := fs.String("integrator-database-url", env("SINERGI_INTEGRATOR_DATABASE_URL", ""),
		"database, as the audit integrator's role sinergi_integrator; empty: this process does not integrate the audit log (SINERGI_INTEGRATOR_DATABASE_URL)")
	origin := fs.String("audit-origin", env("SINERGI_AUDIT_ORIGIN", ""), "the audit log's name in its checkpoints; default <trust-domain>/audit (SINERGI_AUDIT_ORIGIN)")
	pkiDir := devenv.PKIDir(stateDir)
	cert := fs.String("cert", env("SINERGI_CERT", pki.ServerCertPath(pkiDir)), "server certificate (SINERGI_CERT)")
	key := fs.String("key", env("SINERGI_KEY", pki.ServerKeyPath(pkiDir)), "server key (SINERGI_KEY)")
	ca := fs.String("ca", env("SINERGI_CA", pki.CACertPath(pkiDir)), "CA bundle client certificates are verified against (SINERGI_CA)")
	inter := fs.String("client-intermediates", env("SINERGI_CLIENT_INTERMEDIATES", ""), "intermediate CAs allowed between a client certificate and a root of --ca; empty: none, client certificates must be issued by a root (SINERGI_CLIENT_INTERMEDIATES)")
	td := fs.String("trust-domain", env("SINERGI_TRUST_DOMAIN", pki.DefaultTrustDomain), "SPIFFE trust domain (SINERGI_TRUST_DOMAIN)")
	auditKey := fs.String("audit-key", env("SINERGI_AUDIT_KEY", devenv.AuditKeyPath(stateDir)), "Ed25519 key signing audit checkpoints (SINERGI_AUDIT_KEY)")
	retention := fs.Duration("audit-retention", envDuration("SINERGI_AUDIT_RETENTION", 2*365*24*time.Hour), "how long audit records are kept, at least 8760h (SINERGI_AUDIT_RETENTION)")
	grace := fs.Duration("shutdown-grace", envDuration("SINERGI_SHUTDOWN_GRACE", 15*time.Second), "time in-flight calls get on SIGTERM (SINERGI_SHUTDOWN_GRACE)")
	streamBudget := fs.Int("stream-budget-mib", envInt("SINERGI_STREAM_BUDGET_MIB", server.DefaultStreamBudget>>20), "memory all watch streams together may hold for consumers that do not read, beyond 16 KiB each, in MiB (SINERGI_STREAM_BUDGET_MIB)")
	streamCap := fs.Int("streams-per-institution", envInt("SINERGI_STREAMS_PER_INSTITUTION", server.DefaultStreamsPerInstitution), "watch streams one institution may have open at once (SINERGI_STREAMS_PER_INSTITUTION)")
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
	keepDB := fs.Bool("keep-db", env("SINERGI_KEEP_DB", "false") == "true",
		"dev only: leave a throwaway PostgreSQL cluster this command started running when it exits (SINERGI_KEEP_DB)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *streamBudget <= 0 || *streamCap <= 0 {
		return usageError{"--stream-budget-mib and --streams-per-institution must be positive"}
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
		if devdb.StartedCluster() {
			if *keepDB {
				fmt.Fprintf(os.Stderr, "Started a throwaway PostgreSQL cluster under %s (port %d); it keeps running after exit (--keep-db): make stop-db stops it.\n",
					filepath.Join(stateDir, "pg"), devdb.ClusterPort)
			} else {
				fmt.Fprintf(os.Stderr, "Started a throwaway PostgreSQL cluster under %s (port %d); it stops when this exits (make run KEEP_DB=1 keeps it).\n",
					filepath.Join(stateDir, "pg"), devdb.ClusterPort)
				defer stopThrowaway(log)
			}
		}
		if err != nil {
			return err
		}
		url, iurl = e.DB.App, e.DB.Integrator
		if err := demoPeopleIfEmpty(ctx, url, log); err != nil {
			return err
		}
		if err := demoFirearms(ctx, url, log); err != nil {
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
		Addr: *addr, MetricsAddr: *metrics, HTTPAddr: *httpAddr, DatabaseURL: url, IntegratorDatabaseURL: iurl, TrustDomain: *td, ClientIntermediates: *inter,
		TLS: pki.Files{Cert: *cert, Key: *key, CA: *ca}, AuditKeyPath: *auditKey, AuditOrigin: *origin,
		Retention: *retention, ShutdownGrace: *grace, Log: log, MaxConns: int32(*maxConns), Pprof: *pprofOn,
		StreamBudgetBytes: int64(*streamBudget) << 20, StreamsPerInstitution: *streamCap,
		ScreeningLimit: screening.Limit{PerMinute: *screenRate, Burst: *screenBurst},
	})
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	log.Info("sinergi serving", "addr", srv.Addr(), "metrics", srv.MetricsAddr(), "http", srv.HTTPAddr())
	if dev {
		fmt.Fprintf(os.Stderr, devBanner, srv.Addr(), srv.MetricsAddr(), srv.Addr(), srv.Addr())
		if srv.HTTPAddr() != "" {
			fmt.Fprintf(os.Stderr, devHTTPBanner, srv.HTTPAddr(), srv.HTTPAddr())
		}
	}
	return srv.Serve(ctx)
}

// stopThrowaway stops the throwaway cluster `sinergi dev` started, once
// the server has stopped: on Ctrl-C as on any other exit.
func stopThrowaway(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := devdb.StopCluster(ctx, stateDir); err != nil {
		log.Warn("stop the throwaway PostgreSQL cluster (make stop-db)", "error", err)
		return
	}
	fmt.Fprintf(os.Stderr, "Stopped the throwaway PostgreSQL cluster under %s.\n", filepath.Join(stateDir, "pg"))
}

// The server's garbage collector runs on a heap that is mostly short-lived
// call state (about 25 KB a call) over a live heap of a few MB. With Go's
// default (GOGC=100) a busy server collected many times a second and spent
// about a third of its CPU on allocation and collection, on cores it shares
// with PostgreSQL. It lets the heap grow fourfold between collections; a
// soft memory limit makes it collect sooner when a large job (a roster
// upload) fills it. Past a point the tail latency grows with the heap; the
// measurements behind the values are in docs/performance.md.
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
  .sinergi/bin/sinergictl --as polda-jawa-tengah firearms list-licences --state expiring \
      --access.operator-id 85051234 --access.purpose oversight
  .sinergi/bin/sinergictl --as lapas-cipinang screening list-high-risk-designations
  grpcurl -cacert .sinergi/pki/ca.crt -cert .sinergi/pki/mabes-polri.crt -key .sinergi/pki/mabes-polri.key %s list
  grpcurl -cacert .sinergi/pki/ca.crt -cert .sinergi/pki/mabes-polri.crt -key .sinergi/pki/mabes-polri.key %s grpc.health.v1.Health/Check

Stop with Ctrl-C; running make run again reuses .sinergi/.
`

const devHTTPBanner = `HTTP/JSON (the Connect protocol, and gRPC-Web) is on https://%s, same certificates:

  curl --cacert .sinergi/pki/ca.crt --cert .sinergi/pki/polres-metro.crt --key .sinergi/pki/polres-metro.key \
      -H 'Content-Type: application/json' -d '{"pageSize": 3}' \
      https://%s/sinergi.v1.InstitutionService/ListInstitutions

`

// revokeCert revokes client certificates, from a serial, a certificate file
// or a CRL, or lists the revocations. Input that is none of these is
// refused (exit 2) before anything is written.
func revokeCert(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("revoke-cert", flag.ContinueOnError)
	db := fs.String("database-url", env("DATABASE_URL", ""), "database (DATABASE_URL)")
	serial := fs.String("serial", "", "certificate serial in hex as tools print it: 0A:1B:2C, 0a1b2c, 0x0A1B2C, serial=0A1B2C")
	certFile := fs.String("cert", "", "or: the certificate file (PEM or DER)")
	crlFile := fs.String("crl", "", "or: a CRL file (PEM or DER) signed by a CA of --ca: every serial it lists is revoked")
	list := fs.Bool("list", false, "or: list the revocations")
	ca := fs.String("ca", env("SINERGI_CA", pki.CACertPath(devenv.PKIDir(stateDir))), "CA bundle a CRL must be signed by (SINERGI_CA)")
	inter := fs.String("client-intermediates", env("SINERGI_CLIENT_INTERMEDIATES", ""), "intermediate CAs whose CRLs are accepted too (SINERGI_CLIENT_INTERMEDIATES)")
	reason := fs.String("reason", "", "why (kept with the revocation)")
	operator := fs.String("operator-id", env("SINERGI_OPERATOR_ID", ""), "the officer who revokes, NRP or NIP; recorded in the audit trail (SINERGI_OPERATOR_ID)")
	auditKey := fs.String("audit-key", env("SINERGI_AUDIT_KEY", devenv.AuditKeyPath(stateDir)), "the audit log's signing key, which seals the revocation's audit record (SINERGI_AUDIT_KEY)")
	td := fs.String("trust-domain", env("SINERGI_TRUST_DOMAIN", pki.DefaultTrustDomain), "SPIFFE trust domain (SINERGI_TRUST_DOMAIN)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	given := 0
	for _, set := range []bool{*serial != "", *certFile != "", *crlFile != "", *list} {
		if set {
			given++
		}
	}
	if given != 1 || fs.NArg() > 0 {
		return usageError{"usage: sinergi revoke-cert --operator-id NRP|NIP (--serial HEX | --cert FILE | --crl FILE) [--reason TEXT], or --list"}
	}
	if !*list && !authz.OperatorIDValid(*operator) {
		return usageError{fmt.Sprintf("--operator-id %q is not the officer's NRP (8 digits) or NIP (18 digits): a revocation is an administrative act and its audit record names who made it", *operator)}
	}
	if len(*reason) > 500 {
		return usageError{"--reason: at most 500 characters"}
	}
	var revs []store.Revocation
	var crlNote string
	switch {
	case *serial != "":
		s, err := pki.ParseSerial(*serial)
		if err != nil {
			return usageError{fmt.Sprintf("--serial %q: %v", *serial, err)}
		}
		revs = []store.Revocation{{Serial: s, Reason: *reason, Source: store.RevokedBySerial}}
	case *certFile != "":
		b, err := os.ReadFile(*certFile)
		if err != nil {
			return usageError{"--cert: " + err.Error()}
		}
		c, err := pki.ParseCertificateFile(b)
		if err != nil {
			return usageError{fmt.Sprintf("--cert %s: %v", *certFile, err)}
		}
		if c.SerialNumber.Sign() < 0 {
			return usageError{fmt.Sprintf("--cert %s: a negative serial is no valid certificate's", *certFile)}
		}
		revs = []store.Revocation{{Serial: pki.SerialHex(c), Reason: *reason, Source: store.RevokedByCertificate, Issuer: c.Issuer.String()}}
	case *crlFile != "":
		var err error
		if revs, crlNote, err = crlRevocations(*crlFile, *ca, *inter, *reason); err != nil {
			return usageError{err.Error()}
		}
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
	if *list {
		return listRevocations(ctx, st)
	}
	keys, err := logKeys(*auditKey, "", *td)
	if err != nil {
		return err
	}
	what := "serial " + revs[0].Serial
	switch {
	case crlNote != "":
		what = fmt.Sprintf("%s (%d serials)", crlNote, len(revs))
	case *certFile != "":
		what = fmt.Sprintf("the certificate %s (serial %s)", filepath.Base(*certFile), revs[0].Serial)
	}
	e := audit.NewSealer(keys, st).NewEntry(RevokeMethod, "")
	e.SetAccess(*operator, strings.TrimPrefix(sinergiv1.Purpose_PURPOSE_ADMINISTRATION.String(), "PURPOSE_"), "")
	e.Allow(fmt.Sprintf("revocation of %s: %q", what, *reason))
	added, err := st.RevokeCertificates(ctx, e, revs)
	if err != nil {
		return err
	}
	switch {
	case crlNote != "":
		fmt.Printf("%s: %d serials, %d newly revoked, %d already revoked\n", crlNote, len(revs), added, len(revs)-added)
	case added == 1:
		fmt.Println("revoked certificate", revs[0].Serial)
	default:
		fmt.Println("certificate", revs[0].Serial, "was already revoked")
	}
	return nil
}

// RevokeMethod names revocations in the audit trail: an administrative
// act made through the command line, not a call.
const RevokeMethod = "sinergi:revoke-cert"

// crlReasons names the CRL reason codes (RFC 5280 5.3.1).
var crlReasons = map[int]string{0: "unspecified", 1: "keyCompromise", 2: "cACompromise", 3: "affiliationChanged",
	4: "superseded", 5: "cessationOfOperation", 6: "certificateHold", 9: "privilegeWithdrawn", 10: "aACompromise"}

// crlRevocations reads a CRL, checks it against the CA bundle (and the
// client intermediates), and returns its entries as revocations.
func crlRevocations(path, caPath, interPath, reason string) ([]store.Revocation, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("--crl: %w", err)
	}
	cas, err := pki.ReadCertificates(caPath)
	if err != nil {
		return nil, "", fmt.Errorf("--ca: %w", err)
	}
	if interPath != "" {
		inter, err := pki.ReadCertificates(interPath)
		if err != nil {
			return nil, "", fmt.Errorf("--client-intermediates: %w", err)
		}
		// An intermediate counts only if it chains to the bundle.
		if err := pki.CheckIntermediates(cas, inter); err != nil {
			return nil, "", fmt.Errorf("--client-intermediates: %w", err)
		}
		cas = append(cas, inter...)
	}
	crl, issuer, err := pki.CheckCRL(data, cas)
	if err != nil {
		return nil, "", fmt.Errorf("--crl %s: %w", path, err)
	}
	revs := make([]store.Revocation, 0, len(crl.RevokedCertificateEntries))
	for i, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber == nil || e.SerialNumber.Sign() < 0 {
			return nil, "", fmt.Errorf("--crl %s: entry %d has no valid serial: nothing imported", path, i)
		}
		s := pki.SerialText(e.SerialNumber)
		if !pki.IsSerialText(s) {
			return nil, "", fmt.Errorf("--crl %s: entry %d: serial longer than 32 octets: nothing imported", path, i)
		}
		why, ok := crlReasons[e.ReasonCode]
		if !ok {
			return nil, "", fmt.Errorf("--crl %s: entry %d has reason code %d, which a full CRL does not carry: nothing imported", path, i, e.ReasonCode)
		}
		if reason != "" {
			why += ": " + reason
		}
		revs = append(revs, store.Revocation{Serial: s, RevokeTime: e.RevocationTime, Reason: why, Source: store.RevokedByCRL, Issuer: issuer.Subject.String()})
	}
	note := fmt.Sprintf("CRL of %q", issuer.Subject.String())
	if crl.Number != nil {
		note += fmt.Sprintf(" number %s", crl.Number)
	}
	if !crl.NextUpdate.IsZero() && crl.NextUpdate.Before(time.Now()) {
		fmt.Fprintf(os.Stderr, "sinergi: warning: the CRL's next update (%s) has passed; a newer CRL may list more\n", crl.NextUpdate.Format(time.RFC3339))
	}
	return revs, note, nil
}

func listRevocations(ctx context.Context, st *store.Store) error {
	revs, err := st.ListRevocations(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SERIAL\tREVOKED\tSOURCE\tREASON\tISSUER")
	for _, r := range revs {
		serial := r.Serial
		if !r.Valid {
			serial = strconv.Quote(r.Serial) + " (not a serial: matches no certificate)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", serial, r.RevokeTime.UTC().Format(time.RFC3339), r.Source, oneLine(r.Reason), oneLine(r.Issuer))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Printf("%d revocations\n", len(revs))
	return nil
}

// oneLine keeps a table cell on its line and its text printable.
func oneLine(s string) string {
	q := strconv.QuoteToGraphic(s)
	return q[1 : len(q)-1]
}

// certsCmd lists the client certificates seen in use, by institution, with
// their expiry, so that an operator renews them in time.
func certsCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("certs", flag.ContinueOnError)
	db := fs.String("database-url", env("DATABASE_URL", ""), "database (DATABASE_URL)")
	within := fs.Duration("expiring-within", 0, "only certificates that expire within this (e.g. 720h); 0: all")
	soon := fs.Duration("warn-within", 30*24*time.Hour, "mark certificates that expire within this as EXPIRES SOON")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 || *within < 0 || *soon < 0 {
		return usageError{"usage: sinergi certs [--expiring-within DURATION] [--warn-within DURATION]"}
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
	certs, err := st.ListSeenCertificates(ctx, time.Time{})
	if err != nil {
		return err
	}
	now := time.Now()
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "INSTITUTION\tSERIAL\tEXPIRES\tLEFT\tLAST SEEN\tSTATUS")
	n := 0
	for _, c := range certs {
		left := c.NotAfter.Sub(now)
		if *within > 0 && left > *within {
			continue
		}
		state := "ok"
		switch {
		case c.Revoked:
			state = "REVOKED"
		case left <= 0:
			state = "EXPIRED"
		case left <= *soon:
			state = "EXPIRES SOON"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", c.InstitutionCode, c.Serial, c.NotAfter.UTC().Format(time.RFC3339),
			daysLeft(left), c.LastSeen.UTC().Format(time.RFC3339), state)
		n++
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Printf("%d certificates\n", n)
	return nil
}

func daysLeft(d time.Duration) string {
	if d <= 0 {
		return "0d"
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
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
	return demoFirearms(ctx, url, slog.New(slog.NewTextHandler(os.Stdout, nil)))
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

// demoFirearms gives each demo facility without one a firearms register
// (a few weapons, licences, one near its expiry and one expired, and an
// inspection): a handful of rows each, so `make run` stays quick.
func demoFirearms(ctx context.Context, url string, log *slog.Logger) error {
	st, err := store.Open(ctx, url, store.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := demodata.Firearms(ctx, st, time.Now())
	if err != nil {
		return fmt.Errorf("demo firearms register: %w", err)
	}
	if n > 0 {
		log.Info("loaded the demo firearms register", "facilities", n)
	}
	return nil
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
