package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/devdb"
	"github.com/sinergi-id/sinergi/internal/devenv"
	"github.com/sinergi-id/sinergi/internal/pki"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// listFlag is a flag that may be given several times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// logKeys loads the audit log's keys from the signing key file.
func logKeys(keyPath, origin, trustDomain string) (*audit.Keys, error) {
	k, err := audit.LoadKey(keyPath)
	if err != nil {
		return nil, err
	}
	if origin == "" {
		origin = audit.DefaultOrigin(trustDomain)
	}
	return audit.NewKeys(k, origin)
}

func auditCmd(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "check" {
		return auditCheck(ctx, args[1:])
	}
	if len(args) == 0 || (args[0] != "verify" && args[0] != "retain") {
		return usageError{"usage: sinergi audit verify|retain|check [flags]"}
	}
	fs := flag.NewFlagSet("audit "+args[0], flag.ContinueOnError)
	db := fs.String("database-url", env("SINERGI_INTEGRATOR_DATABASE_URL", ""), "database, as the integrator role sinergi_integrator (SINERGI_INTEGRATOR_DATABASE_URL)")
	keyPath := fs.String("audit-key", env("SINERGI_AUDIT_KEY", devenv.AuditKeyPath(stateDir)), "the log's Ed25519 signing key (SINERGI_AUDIT_KEY)")
	origin := fs.String("audit-origin", env("SINERGI_AUDIT_ORIGIN", ""), "the log's name; default <trust-domain>/audit (SINERGI_AUDIT_ORIGIN)")
	td := fs.String("trust-domain", env("SINERGI_TRUST_DOMAIN", pki.DefaultTrustDomain), "SPIFFE trust domain (SINERGI_TRUST_DOMAIN)")
	retention := fs.Duration("audit-retention", envDuration("SINERGI_AUDIT_RETENTION", 2*365*24*time.Hour), "retention (SINERGI_AUDIT_RETENTION)")
	var states listFlag
	fs.Var(&states, "witness-state", "a witness's state file (repeat for several): verify holds the log to the checkpoint each witness keeps")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err.Error()}
	}
	url, err := roleURL(ctx, *db, integratorRole)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, url, store.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	defer st.Close()
	if args[0] == "retain" {
		var dropped []time.Time
		err := st.Lead(ctx, 0, false, func(ctx context.Context, db store.DB) error {
			var err error
			dropped, err = audit.Retain(ctx, db, *retention, time.Now())
			return err
		})
		for _, m := range dropped {
			fmt.Println("dropped", m.Format("2006-01"))
		}
		return err
	}
	keys, err := logKeys(*keyPath, *origin, *td)
	if err != nil {
		return err
	}
	var held []*audit.WitnessState
	for _, p := range states {
		ws, err := audit.LoadWitnessState(p)
		if err != nil {
			return err
		}
		if ws.Note == "" {
			return fmt.Errorf("witness state %s: no checkpoint in it (has the witness run?)", p)
		}
		held = append(held, ws)
	}
	rep, err := audit.Verify(ctx, st, keys, held)
	if err != nil {
		return err
	}
	fmt.Printf("%s\n(%d leaves in %s, %.0f leaves/s)\n", rep, rep.Leaves, rep.Elapsed.Round(time.Millisecond),
		float64(rep.Leaves)/max(rep.Elapsed.Seconds(), 1e-9))
	if !rep.OK {
		return errors.New("audit log broken")
	}
	return nil
}

// clientFlags are the flags of a command that calls the server as an
// institution.
type clientFlags struct{ addr, ca, cert, key, as, logKey *string }

func addClientFlags(fs *flag.FlagSet) clientFlags {
	return addClientFlagsWithout(fs, fs.String("as", env("SINERGI_AS", ""), "the institution's code: its development certificate under .sinergi (SINERGI_AS)"))
}

// addClientFlagsWithout adds the client flags but --as, which the command has.
func addClientFlagsWithout(fs *flag.FlagSet, as *string) clientFlags {
	pkiDir := devenv.PKIDir(stateDir)
	return clientFlags{
		addr:   fs.String("addr", env("SINERGI_ADDR", "127.0.0.1:7443"), "the server (SINERGI_ADDR)"),
		ca:     fs.String("ca", env("SINERGI_CA", pki.CACertPath(pkiDir)), "CA bundle of the server (SINERGI_CA)"),
		cert:   fs.String("cert", env("SINERGI_CERT", ""), "the institution's client certificate (SINERGI_CERT; default: --as's)"),
		key:    fs.String("key", env("SINERGI_KEY", ""), "its key (SINERGI_KEY)"),
		as:     as,
		logKey: fs.String("log-key", env("SINERGI_AUDIT_LOG_KEY", ""), "the log's verifier key, as pinned (SINERGI_AUDIT_LOG_KEY; default: the file .sinergi/pki/audit-log.vkey)"),
	}
}

// dial connects as the institution the flags name, and returns the log's
// pinned verifier key.
func (c clientFlags) dial() (*grpc.ClientConn, string, error) {
	pkiDir := devenv.PKIDir(stateDir)
	if *c.as == "" && (*c.cert == "" || *c.key == "") {
		return nil, "", usageError{"give --as CODE, or --cert and --key"}
	}
	cert, key := or(*c.cert, pki.ClientCertPath(pkiDir, *c.as)), or(*c.key, pki.ClientKeyPath(pkiDir, *c.as))
	logKey := *c.logKey
	if logKey == "" {
		b, err := os.ReadFile(devenv.AuditVerifierKeyPath(stateDir))
		if err != nil {
			return nil, "", usageError{"give --log-key (the log's verifier key): " + err.Error()}
		}
		logKey = strings.TrimSpace(string(b))
	}
	tlsCfg, err := pki.ClientTLS(pki.Files{Cert: cert, Key: key, CA: *c.ca}, hostOf(*c.addr))
	if err != nil {
		return nil, "", err
	}
	conn, err := grpc.NewClient(*c.addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	return conn, logKey, err
}

// auditCheck checks one record's inclusion in the log as an auditor
// would: with the API and the log's pinned key alone.
func auditCheck(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("audit check", flag.ContinueOnError)
	cf := addClientFlags(fs)
	id := fs.Int64("record-id", 0, "the audit record (its id, as ListAuditRecords and ListSubjectAccess show it)")
	operator := fs.String("operator-id", "", "the auditor's NRP or NIP")
	purpose := fs.String("purpose", "oversight", "why: oversight or data-subject-request")
	leaf64 := fs.String("leaf", "", "the record's leaf (base64), as a listing gave it: for a record that is not the caller's to read")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	p, ok := sinergiv1.Purpose_value["PURPOSE_"+strings.ToUpper(strings.ReplaceAll(*purpose, "-", "_"))]
	if *id <= 0 || *operator == "" || !ok {
		return usageError{"audit check: give --record-id, --operator-id and a --purpose"}
	}
	var given []byte
	if *leaf64 != "" {
		var err error
		if given, err = base64.StdEncoding.DecodeString(*leaf64); err != nil {
			return usageError{"audit check: --leaf is not base64: " + err.Error()}
		}
	}
	conn, logKey, err := cf.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	leaf, cp, witnessed, err := audit.CheckRecord(ctx, sinergiv1.NewAuditServiceClient(conn), logKey,
		&sinergiv1.AccessContext{OperatorId: *operator, Purpose: sinergiv1.Purpose(p)}, *id, given)
	if err != nil {
		return err
	}
	how := "not yet in a checkpoint a witness cosigned"
	if witnessed {
		how = "and in the newest checkpoint the witnesses cosigned"
	}
	fmt.Printf("record %d is in the log of %d leaves whose checkpoint the log signed (root %x), %s:\n", *id, cp.Size, cp.Root, how)
	fmt.Printf("  %s  %s  %s  operator %s  purpose %s  case %q  %s %s  subjects %v\n",
		time.UnixMicro(leaf.GetTimeUnixMicros()).Format(time.RFC3339), leaf.GetCallerCode(), leaf.GetMethod(), leaf.GetOperatorId(),
		leaf.GetPurpose(), leaf.GetCaseReference(), leaf.GetDecision(), leaf.GetStatusCode(), leaf.GetSubjects())
	return nil
}

const witnessUsage = `usage: sinergi witness run|key|register [flags]

  run       cosign the log's checkpoints: each round, check the newest
            checkpoint extends the one held (a consistency proof), cosign
            it, hand the cosignature back, keep it in the state file
  key       print the witness's cosigning verifier key (creating the key)
  register  register an institution as a witness, with its verifier key
            (as the database owner)`

// witnessDefaults are the development defaults of an institution's witness.
func witnessDefaults(code string) (state, key string) {
	dir := filepath.Join(stateDir, "witness")
	return filepath.Join(dir, code+".json"), filepath.Join(dir, code+".key")
}

func witnessCmd(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageError{witnessUsage}
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("witness "+sub, flag.ContinueOnError)
	td := fs.String("trust-domain", env("SINERGI_TRUST_DOMAIN", pki.DefaultTrustDomain), "SPIFFE trust domain (SINERGI_TRUST_DOMAIN)")
	as := fs.String("as", env("SINERGI_AS", ""), "the witness institution's code: its development certificate and files under .sinergi (SINERGI_AS)")
	keyPath := fs.String("witness-key", "", "the witness's Ed25519 cosigning key, created if missing (default .sinergi/witness/<code>.key)")
	name := fs.String("name", "", "the witness's key name (default <trust-domain>/witness/<code>)")
	switch sub {
	case "run":
		state := fs.String("state", "", "the state file: the checkpoint this witness holds (default .sinergi/witness/<code>.json)")
		interval := fs.Duration("interval", 10*time.Second, "time between rounds")
		once := fs.Bool("once", false, "run one round and exit")
		metricsAddr := fs.String("metrics-addr", "", "serve the witness's Prometheus /metrics here (empty: none)")
		cf := addClientFlagsWithout(fs, as)
		if err := fs.Parse(args); err != nil {
			return usageError{err.Error()}
		}
		if *as == "" && (*cf.cert == "" || *state == "" || *keyPath == "" || *name == "") {
			return usageError{"witness run: give --as CODE, or --cert, --key, --state, --witness-key and --name"}
		}
		defState, defKey := witnessDefaults(*as)
		*state, *keyPath = or(*state, defState), or(*keyPath, defKey)
		*name = or(*name, *td+"/witness/"+*as)
		cosigner, err := loadCosigner(*keyPath, *name)
		if err != nil {
			return err
		}
		conn, logKey, err := cf.dial()
		if err != nil {
			return err
		}
		defer conn.Close()
		w := &audit.Witness{Client: sinergiv1.NewAuditServiceClient(conn), LogKey: logKey, Cosigner: cosigner, State: *state}
		return runWitness(ctx, w, *interval, *once, *metricsAddr)
	case "key":
		if err := fs.Parse(args); err != nil {
			return usageError{err.Error()}
		}
		if *as == "" && (*keyPath == "" || *name == "") {
			return usageError{"witness key: give --as CODE, or --witness-key and --name"}
		}
		_, defKey := witnessDefaults(*as)
		cosigner, err := loadCosigner(or(*keyPath, defKey), or(*name, *td+"/witness/"+*as))
		if err != nil {
			return err
		}
		fmt.Println(cosigner.VerifierKey())
		return nil
	case "register":
		db := fs.String("database-url", env("SINERGI_OWNER_DATABASE_URL", ""), "database, as the owner role (SINERGI_OWNER_DATABASE_URL)")
		inst := fs.String("institution", "", "the witness institution's code")
		vkey := fs.String("vkey", "", "its cosigning verifier key (sinergi witness key prints it)")
		if err := fs.Parse(args); err != nil {
			return usageError{err.Error()}
		}
		v, err := audit.NewCosignatureVerifier(*vkey)
		if *inst == "" || err != nil {
			return usageError{fmt.Sprintf("witness register: give --institution and a cosignature --vkey (%v)", err)}
		}
		url, err := roleURL(ctx, *db, ownerRole)
		if err != nil {
			return err
		}
		st, err := store.Open(ctx, url, store.Options{MaxConns: 1})
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.RegisterWitness(ctx, store.Witness{InstitutionCode: *inst, Name: v.Name(), VKey: *vkey}); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no institution %q", *inst)
			}
			return err
		}
		fmt.Printf("registered %s as a witness (%s)\n", *inst, v.Name())
		return nil
	}
	return usageError{witnessUsage}
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// loadCosigner reads (creating it when missing) a witness's cosigning key.
func loadCosigner(path, name string) (*audit.Cosigner, error) {
	if err := audit.WriteNewKey(path); err != nil {
		return nil, err
	}
	k, err := audit.LoadKey(path)
	if err != nil {
		return nil, err
	}
	return audit.NewCosigner(name, k), nil
}

// runWitness runs rounds until ctx ends (or one, with once). A log that
// is not consistent with the state ends it loudly, with an error (a
// non-zero exit), a log line and a metric; a round that fails otherwise
// (the server unreachable) is retried at the next.
func runWitness(ctx context.Context, w *audit.Witness, interval time.Duration, once bool, metricsAddr string) error {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	reg := prometheus.NewRegistry()
	size := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sinergi_witness_tree_size", Help: "Tree size of the checkpoint this witness holds."})
	rounds := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sinergi_witness_rounds_total", Help: "Witness rounds, by result."}, []string{"result"})
	bad := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sinergi_witness_inconsistent", Help: "1 once the log was found inconsistent with the held checkpoint."})
	reg.MustRegister(size, rounds, bad)
	if metricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := &http.Server{Addr: metricsAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.ListenAndServe() }()
		defer srv.Close()
	}
	log.Info("witness starting", "witness", w.Cosigner.Name(), "vkey", w.Cosigner.VerifierKey(), "state", w.State)
	for {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		r, err := w.Round(rctx)
		cancel()
		switch {
		case errors.Is(err, audit.ErrInconsistent):
			rounds.WithLabelValues("inconsistent").Inc()
			bad.Set(1)
			log.Error("WITNESS REFUSES: the audit log was rewritten or truncated", "error", err.Error())
			return err
		case err != nil:
			rounds.WithLabelValues("error").Inc()
			log.Warn("witness round failed", "error", err.Error())
			if once {
				return err
			}
		default:
			rounds.WithLabelValues("cosigned").Inc()
			size.Set(float64(r.To))
			log.Info("witness cosigned", "from", r.From, "to", r.To)
			if once {
				fmt.Printf("cosigned the checkpoint of %d leaves (held %d before)\n", r.To, r.From)
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// dbSetup prepares a database server for Sinergi as its administrator.
func dbSetup(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("db-setup", flag.ContinueOnError)
	admin := fs.String("admin-url", env("SINERGI_ADMIN_DATABASE_URL", ""), "the server, as a superuser (SINERGI_ADMIN_DATABASE_URL)")
	name := fs.String("database", "sinergi", "the database to create (or hand to the owner role) and migrate")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *admin == "" {
		return usageError{"db-setup: give --admin-url (a superuser's connection string to the server)"}
	}
	d, err := devenv.SetUp(ctx, *admin, *name)
	if err != nil {
		return err
	}
	if err := store.Migrate(ctx, d.Owner); err != nil {
		return err
	}
	fmt.Printf("roles %s, %s and %s are ready; database %s is migrated.\n", store.OwnerRole, store.AppRole, store.IntegratorRole, *name)
	fmt.Printf("Set their passwords (ALTER ROLE ... PASSWORD) if your server needs them, then use:\n")
	fmt.Printf("  sinergi migrate --database-url         %s\n", devdb.Redact(d.Owner))
	fmt.Printf("  sinergi serve   --database-url         %s\n", devdb.Redact(d.App))
	fmt.Printf("                  --integrator-database-url %s\n", devdb.Redact(d.Integrator))
	return nil
}
