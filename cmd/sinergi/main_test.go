package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/sinergi-id/sinergi/internal/devenv"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/pki"
	"github.com/sinergi-id/sinergi/internal/server"
	"github.com/sinergi-id/sinergi/internal/servertest"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

var db *pgtest.DB

func TestMain(m *testing.M) { pgtest.Main(m, &db) }

func count(t *testing.T, env *servertest.Env, q string) int {
	t.Helper()
	var n int
	if err := env.Owner.Pool.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSeedRejectedWhole: one bad entry rejects the file, naming the entry
// and field, and nothing of it is written.
func TestSeedRejectedWhole(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(`
institutions:
  - {code: rutan-cilacap, name: Rutan Kelas IIB Cilacap, kind: RUTAN, region_code: "33.01"}
agreements:
  - id: pks-rutan-cilacap
    number: PKS/1/2026
    kind: PKS
    parties: [{institution_code: rutan-cilacap}, {institution_code: polres-atlantis}]
    scopes: [INCIDENT_REPORTS]
    effective: "2026-01-01"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	before := count(t, env, `SELECT count(*) FROM institutions`)
	err := run(context.Background(), []string{"seed", "--database-url", db.URL, "--audit-key", env.AuditKey, "--operator-id", devenv.DevOperator, bad})
	if err == nil || !strings.Contains(err.Error(), "agreements[0] (pks-rutan-cilacap).parties[1].institution_code") || !strings.Contains(err.Error(), "nothing written") {
		t.Fatalf("seed of a bad file: %v", err)
	}
	if after := count(t, env, `SELECT count(*) FROM institutions`); after != before {
		t.Fatalf("institutions %d -> %d: a rejected file wrote something", before, after)
	}
	good := filepath.Join(dir, "good.json")
	if err := os.WriteFile(good, []byte(`{"institutions": [{"code": "rutan-cilacap", "name": "Rutan Kelas IIB Cilacap", "kind": "RUTAN", "region_code": "33.01"}],
		"agreements": [{"id": "pks-rutan-cilacap", "number": "PKS/1/2026", "kind": "PKS", "effective": "2026-01-01", "scopes": ["INCIDENT_REPORTS"],
		"parties": [{"institution_code": "rutan-cilacap"}, {"institution_code": "polres-cilacap"}]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"seed", "--database-url", db.URL, "--audit-key", env.AuditKey, "--operator-id", devenv.DevOperator, good}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, env, `SELECT count(*) FROM agreement_parties WHERE agreement_id = 'pks-rutan-cilacap'`); n != 2 {
		t.Fatalf("good seed wrote %d parties", n)
	}
	// Seeding the same file again changes nothing and succeeds.
	if err := run(context.Background(), []string{"seed", "--database-url", db.URL, "--audit-key", env.AuditKey, "--operator-id", devenv.DevOperator, good}); err != nil {
		t.Fatal(err)
	}
}

// TestSeedAddsOnly: a seed adds what is missing and never overwrites what
// was changed since (a revocation stays revoked, however often `make run`
// seeds the demo directory); one that says something else than the
// registry is refused, naming each difference; it never revokes; and each
// seed is an administrative act, audited with its officer.
func TestSeedAddsOnly(t *testing.T) {
	d := pgtest.Fresh(t)
	env := servertest.Start(t, d, servertest.Options{})
	ctx := context.Background()
	ministry := sinergiv1.NewAgreementServiceClient(env.ConnAs(t, "kemenimipas"))
	admin := &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_ADMINISTRATION}
	if _, err := ministry.RevokeAgreement(ctx, &sinergiv1.RevokeAgreementRequest{Access: admin, Id: "pks-2025-kemenimipas-polri-data"}); err != nil {
		t.Fatal(err)
	}
	mabes := sinergiv1.NewInstitutionServiceClient(env.ConnAs(t, "mabes-polri"))
	if _, err := mabes.SetInstitutionStatus(ctx, &sinergiv1.SetInstitutionStatusRequest{Code: "polsek-nusakambangan",
		Status: sinergiv1.InstitutionStatus_INSTITUTION_STATUS_SUSPENDED,
		Access: &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_ADMINISTRATION}}); err != nil {
		t.Fatal(err)
	}
	const officer = "197001012000031002"
	seed := func(args ...string) error {
		return run(ctx, append([]string{"seed", "--database-url", d.URL, "--audit-key", env.AuditKey}, args...))
	}

	// `make run` seeds the demo directory at every start: it changes nothing.
	if err := seed("--operator-id", officer, "--demo"); err != nil {
		t.Fatal(err)
	}
	var revoked bool
	var status string
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT revoke_time IS NOT NULL FROM agreements WHERE id = 'pks-2025-kemenimipas-polri-data'`).Scan(&revoked); err != nil || !revoked {
		t.Fatalf("the demo seed un-revoked the data PKS (revoked %v, %v)", revoked, err)
	}
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT status FROM institutions WHERE code = 'polsek-nusakambangan'`).Scan(&status); err != nil || status != "SUSPENDED" {
		t.Fatalf("the demo seed reactivated a suspended unit (%s, %v)", status, err)
	}

	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"changed terms", `
agreements:
  - id: pks-2024-lpka-tenggarong-polres-kukar
    number: "PKS/2024/LPKA-TENGGARONG/POLRES-KUKAR (demo)"
    kind: PKS
    title: Kerja sama keamanan dan ketertiban
    parties: [{institution_code: lpka-tenggarong}, {institution_code: polres-kutai-kartanegara}]
    scopes: [INCIDENT_REPORTS, THREAT_INTELLIGENCE]
    effective: "2024-01-25"
    expires: "2026-01-25"
    signed: "2024-01-25"
    signatories: [Kepala LPKA Kelas II Tenggarong, Kapolres Kutai Kartanegara]
`, []string{"agreements[0] (pks-2024-lpka-tenggarong-polres-kukar): differs from the registered agreement: scopes: registered [INCIDENT_REPORTS], here [INCIDENT_REPORTS, THREAT_INTELLIGENCE]",
			"expires: registered 2025-01-25T00:00:00+07:00, here 2026-01-25T00:00:00+07:00", "nothing written"}},
		{"a renamed institution", `
institutions:
  - {code: polres-metro, name: Polres Metro Lampung, kind: POLRES, region_code: "18.72", parent_code: polda-lampung}
`, []string{`institutions[0] (polres-metro): differs from the registered institution: name: registered "Polres Metro", here "Polres Metro Lampung"`}},
		{"a revocation", `
agreements:
  - id: pks-2026-backdated
    number: "1"
    kind: PKS
    parties: [{institution_code: lapas-metro}, {institution_code: polres-metro}]
    scopes: [TRAINING]
    effective: "2026-01-01"
    revoked: "2026-02-01"
`, []string{"agreements[0] (pks-2026-backdated).revoked: a seed cannot revoke"}},
		{"two police units", `
agreements:
  - id: pks-2026-police-police
    number: "1"
    kind: PKS
    parties: [{institution_code: polres-metro}, {institution_code: polda-lampung}]
    scopes: [TRAINING]
    effective: "2026-01-01"
`, []string{"agreements[0] (pks-2026-police-police).parties: both parties are on the police side"}},
		{"a second ministry", `
institutions:
  - {code: kemenimipas-dua, name: Kementerian Kedua, kind: MINISTRY}
`, []string{"institutions[0] (kemenimipas-dua).kind: the corrections side already has its headquarters, kemenimipas"}},
	} {
		err := seed("--operator-id", officer, write(tc.name+".yaml", tc.body))
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want it to say %q", tc.name, err, w)
			}
		}
	}
	if err := seed(write("noofficer.yaml", "institutions: []\n")); err == nil || !strings.Contains(err.Error(), "--operator-id") {
		t.Errorf("seed without an officer: %v", err)
	}
	if err := seed("--operator-id", "12345", write("badofficer.yaml", "institutions: []\n")); err == nil || !strings.Contains(err.Error(), "NRP") {
		t.Errorf("seed by no officer: %v", err)
	}

	// A new entry is added, and the seed's audit record names it and the officer.
	before := count(t, env, `SELECT count(*) FROM audit_records WHERE method = 'sinergi:seed'`)
	if err := seed("--operator-id", officer, write("new.yaml", `
institutions:
  - {code: rutan-metro, name: Rutan Metro, kind: RUTAN, region_code: "18.72"}
`)); err != nil {
		t.Fatal(err)
	}
	var subjects []string
	var operator, purpose, decision string
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT subjects, operator_id, purpose, decision FROM audit_records WHERE method = 'sinergi:seed' ORDER BY at DESC, id DESC LIMIT 1`).
		Scan(&subjects, &operator, &purpose, &decision); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(subjects, []string{"institution/rutan-metro"}) || operator != officer || purpose != "ADMINISTRATION" || decision != "ALLOWED" {
		t.Errorf("the seed's audit record: %v by %s for %s (%s)", subjects, operator, purpose, decision)
	}
	if after := count(t, env, `SELECT count(*) FROM audit_records WHERE method = 'sinergi:seed'`); after != before+1 {
		t.Errorf("%d seed records after one seed, want %d: refused seeds write nothing", after, before+1)
	}
}

// TestAuditVerifyCommand: `sinergi witness` cosigns the log of a running
// server, `sinergi audit verify` succeeds on the intact log and, with the
// witness's state, names the first position of a changed one.
func TestAuditVerifyCommand(t *testing.T) {
	env := servertest.Start(t, db, servertest.Options{})
	ctx := context.Background()
	c := env.As(t, "polda-lampung")
	for range 5 {
		if _, err := c.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "lapas-metro"}); err != nil {
			t.Fatal(err)
		}
	}
	env.WaitIntegrated(t)
	dir := t.TempDir()
	state, wkey := filepath.Join(dir, "mabes.json"), filepath.Join(dir, "mabes.key")
	name := "sinergi.go.id/witness/mabes-polri"
	out := captureStdout(t, func() error {
		return run(ctx, []string{"witness", "key", "--witness-key", wkey, "--name", name})
	})
	vkey := strings.TrimSpace(out)
	if err := run(ctx, []string{"witness", "register", "--database-url", db.Owner, "--institution", "mabes-polri", "--vkey", vkey}); err != nil {
		t.Fatal(err)
	}
	files := env.Files("mabes-polri")
	witness := []string{"witness", "run", "--once", "--addr", env.Addr(), "--ca", files.CA, "--cert", files.Cert, "--key", files.Key,
		"--state", state, "--witness-key", wkey, "--name", name, "--log-key", env.Keys(t).VerifierKey()}
	if err := run(ctx, witness); err != nil {
		t.Fatalf("witness round: %v", err)
	}
	args := []string{"audit", "verify", "--database-url", db.Integrator, "--audit-key", env.AuditKey, "--witness-state", state}
	if err := run(ctx, args); err != nil {
		t.Fatalf("verify of an intact log: %v", err)
	}
	// An auditor checks one of Mabes's own calls with the API alone: the
	// witness's, once in the log (they are integrated after their replies).
	env.WaitIntegrated(t)
	var own int64
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT r.id FROM audit_records r JOIN audit_leaves l ON l.record_id = r.id
		WHERE r.caller_code = 'mabes-polri' ORDER BY l.leaf_index LIMIT 1`).Scan(&own); err != nil {
		t.Fatal(err)
	}
	check := []string{"audit", "check", "--addr", env.Addr(), "--ca", files.CA, "--cert", files.Cert, "--key", files.Key,
		"--log-key", env.Keys(t).VerifierKey(), "--operator-id", "85051234", "--record-id", fmt.Sprint(own)}
	if out := captureStdout(t, func() error { return run(ctx, check) }); !strings.Contains(out, fmt.Sprintf("record %d is in the log", own)) {
		t.Errorf("audit check printed %q", out)
	}
	if err := run(ctx, append(check, "--log-key", "someone+00000000+AQ==")); err == nil {
		t.Error("audit check with a wrong log key succeeded")
	}
	env.Server.Stop()
	tx, err := env.Owner.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = tx.Exec(ctx, "SET LOCAL session_replication_role = replica")
	if _, err := tx.Exec(ctx, `UPDATE audit_records SET operator_id = '85051234' WHERE id = (SELECT record_id FROM audit_leaves WHERE leaf_index = 2)`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	out = captureStdout(t, func() error {
		if err := run(ctx, args); err == nil {
			t.Error("verify of a tampered log succeeded")
		}
		return nil
	})
	if !strings.Contains(out, "BROKEN at position 2") {
		t.Errorf("verify output %q does not name position 2", out)
	}
}

// captureStdout runs fn and returns what it printed.
func captureStdout(t *testing.T, fn func() error) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	ferr := fn()
	os.Stdout = saved
	w.Close()
	out := <-done
	if ferr != nil {
		t.Fatalf("%v (printed %q)", ferr, out)
	}
	return out
}

// TestTuneGC: the server's collector settings apply, except where the
// operator set GOGC or GOMEMLIMIT, which win.
func TestTuneGC(t *testing.T) {
	prevPercent := debug.SetGCPercent(100)
	prevLimit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(prevPercent)
		debug.SetMemoryLimit(prevLimit)
	})
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	tuneGC(700, 96)
	if got := debug.SetGCPercent(100); got != 700 {
		t.Errorf("gc percent %d, want 700", got)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != 96<<20 {
		t.Errorf("memory limit %d, want %d", got, 96<<20)
	}

	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "1GiB")
	tuneGC(700, 96)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set, gc percent %d, want it left at 100", got)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != math.MaxInt64 {
		t.Errorf("with GOMEMLIMIT set, memory limit %d, want it left alone", got)
	}
}

// capture runs fn and returns what it printed to stdout.
func capture(t *testing.T, fn func() error) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	out := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		out <- string(b)
	}()
	ferr := fn()
	os.Stdout = saved
	w.Close()
	return <-out, ferr
}

// serialForms spell a serial as the usual tools print it.
func serialForms(c *x509.Certificate) map[string]string {
	lower := pki.SerialHex(c)
	even := lower
	if len(even)%2 == 1 {
		even = "0" + even
	}
	var pairs []string
	for i := 0; i < len(even); i += 2 {
		pairs = append(pairs, strings.ToUpper(even[i:i+2]))
	}
	return map[string]string{
		"lower-case hex":                lower,
		"upper-case hex":                strings.ToUpper(lower),
		"leading zeros":                 "000" + lower,
		"0x prefix":                     "0x" + strings.ToUpper(even),
		"openssl x509 -text (00:8F:..)": "00:" + strings.Join(pairs, ":"),
		"openssl x509 -serial":          "serial=" + strings.ToUpper(even),
		"byte pairs with spaces":        strings.ToLower(strings.Join(pairs, " ")),
	}
}

// crlOf makes a CRL by ca listing certs, PEM or DER.
func crlOf(t *testing.T, ca *pki.CA, pemOut bool, reason int, certs ...*x509.Certificate) []byte {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(time.Now().UnixNano()), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(24 * time.Hour)}
	for _, c := range certs {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{
			SerialNumber: c.SerialNumber, RevocationTime: time.Now().Add(-time.Second), ReasonCode: reason})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	if pemOut {
		return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	}
	return der
}

// TestRevokeCertEndsOpenStreams: `sinergi revoke-cert` with a serial in
// every form tools print, a certificate file, or a CRL, ends every kind of
// stream the certificate holds open, in two server processes sharing the
// database (the command writes the database directly).
func TestRevokeCertEndsOpenStreams(t *testing.T) {
	env := servertest.Start(t, pgtest.Fresh(t), servertest.Options{})
	other := env.Another(t)
	ca := env.CA(t)
	dir := t.TempDir()
	revokeArgs := map[string]func(c *x509.Certificate) []string{}
	for name := range serialForms(&x509.Certificate{SerialNumber: big.NewInt(1)}) {
		revokeArgs["--serial, "+name] = func(c *x509.Certificate) []string { return []string{"--serial", serialForms(c)[name]} }
	}
	file := func(name string, data []byte) string {
		p := filepath.Join(dir, fmt.Sprintf("%d-%s", time.Now().UnixNano(), name))
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	revokeArgs["--cert, PEM"] = func(c *x509.Certificate) []string {
		return []string{"--cert", file("c.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))}
	}
	revokeArgs["--cert, DER"] = func(c *x509.Certificate) []string { return []string{"--cert", file("c.der", c.Raw)} }
	revokeArgs["--crl, PEM"] = func(c *x509.Certificate) []string {
		return []string{"--crl", file("r.crl", crlOf(t, ca, true, 1, c)), "--ca", pki.CACertPath(env.PKIDir)}
	}
	revokeArgs["--crl, DER"] = func(c *x509.Certificate) []string {
		return []string{"--crl", file("r.der", crlOf(t, ca, false, 4, c)), "--ca", pki.CACertPath(env.PKIDir)}
	}
	if len(revokeArgs) < 10 {
		t.Fatalf("only %d ways to revoke", len(revokeArgs))
	}
	for name, argsOf := range revokeArgs {
		t.Run(name, func(t *testing.T) {
			var streams []*servertest.OpenStream
			var certs []*x509.Certificate
			for _, srv := range []*server.Server{env.Server, other} {
				conns := map[string]*grpc.ClientConn{}
				streams = append(streams, servertest.OpenStreams(t, srv, func(m string) *grpc.ClientConn {
					code := servertest.Streams[m].As
					if srv == other && m == sinergiv1.CustodyService_SyncRoster_FullMethodName {
						code = "lapas-cipinang" // one roster upload per facility at a time
					}
					if conns[code] == nil {
						cfg, c := env.Issue(t, ca, servertest.ClientTemplate(code))
						conns[code] = servertest.Dial(t, srv.Addr(), cfg)
						certs = append(certs, c)
					}
					return conns[code]
				})...)
			}
			for _, c := range certs {
				args := append([]string{"revoke-cert", "--database-url", env.DB.App, "--operator-id", devenv.DevOperator, "--audit-key", env.AuditKey,
					"--reason", "test " + name}, argsOf(c)...)
				if out, err := capture(t, func() error { return run(context.Background(), args) }); err != nil {
					t.Fatalf("%v: %v (%s)", args, err, out)
				}
				// The act is in the trail: the officer, and the certificate.
				if n := count(t, env, `SELECT count(*) FROM audit_records WHERE method = 'sinergi:revoke-cert' AND operator_id = '`+devenv.DevOperator+
					`' AND purpose = 'ADMINISTRATION' AND subjects @> ARRAY['certificate/`+pki.SerialHex(c)+`']`); n != 1 {
					t.Errorf("%d audit records of the revocation of %s, want 1", n, pki.SerialHex(c))
				}
			}
			servertest.EndedWith(t, streams, codes.Unauthenticated, "CERTIFICATE_REVOKED")
			// Both processes refuse them from now on (each has seen its own
			// streams' revocations; the other's may take a reload longer).
			for _, srv := range []*server.Server{env.Server, other} {
				for _, c := range certs {
					deadline := time.Now().Add(10 * time.Second)
					for !srv.Directory.Snapshot().Revoked(pki.SerialHex(c)) {
						if time.Now().After(deadline) {
							t.Errorf("serial %s not revoked", pki.SerialHex(c))
							break
						}
						time.Sleep(20 * time.Millisecond)
					}
				}
			}
		})
	}
	out, err := capture(t, func() error {
		return run(context.Background(), []string{"revoke-cert", "--database-url", env.DB.App, "--list"})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"serial", "certificate", "crl", "keyCompromise: test --crl, PEM", "superseded: test --crl, DER"} {
		if !strings.Contains(out, want) {
			t.Errorf("--list lacks %q:\n%s", want, out)
		}
	}
}

// TestRevokeCertRefusesBadInput: anything that is not a serial, a
// certificate or a CRL of a trusted CA is refused with exit status 2, and
// nothing is written.
func TestRevokeCertRefusesBadInput(t *testing.T) {
	env := servertest.Start(t, pgtest.Fresh(t), servertest.Options{})
	ca := env.CA(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	_, victim := env.Fresh(t, "polres-metro")
	otherCA, err := pki.NewCA("Sinergi development CA") // the same name, another key
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := pki.NewCA("somebody else's CA")
	if err != nil {
		t.Fatal(err)
	}
	delta := func() []byte {
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(2), ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour),
			ExtraExtensions:           []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 27}, Critical: true, Value: []byte{2, 1, 1}}},
			RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: victim.SerialNumber, RevocationTime: time.Now()}}}, ca.Cert, ca.Key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}()
	caFlag := []string{"--ca", pki.CACertPath(env.PKIDir)}
	for name, args := range map[string][]string{
		"no officer":                  {"--serial", "0a1b"},
		"an officer who is no NRP":    {"--operator-id", "admin", "--serial", "0a1b"},
		"nothing":                     {"--operator-id", devenv.DevOperator},
		"two at once":                 {"--operator-id", devenv.DevOperator, "--serial", "0a1b", "--cert", pki.ClientCertPath(env.PKIDir, "polres-metro")},
		"a stray argument":            {"--operator-id", devenv.DevOperator, "--serial", "0a1b", "extra"},
		"not hex":                     {"--operator-id", devenv.DevOperator, "--serial", "not-hex"},
		"empty serial":                {"--operator-id", devenv.DevOperator, "--serial", ""},
		"0x alone":                    {"--operator-id", devenv.DevOperator, "--serial", "0x"},
		"odd byte pair":               {"--operator-id", devenv.DevOperator, "--serial", "0a:1"},
		"a sign":                      {"--operator-id", devenv.DevOperator, "--serial", "-0a1b"},
		"a NUL byte":                  {"--operator-id", devenv.DevOperator, "--serial", "0a\x001b"},
		"too long":                    {"--operator-id", devenv.DevOperator, "--serial", strings.Repeat("f", 200)},
		"no such certificate file":    {"--operator-id", devenv.DevOperator, "--cert", filepath.Join(dir, "missing.crt")},
		"a file that is no cert":      {"--operator-id", devenv.DevOperator, "--cert", write("junk.crt", []byte("hello"))},
		"a key instead of a cert":     {"--operator-id", devenv.DevOperator, "--cert", pki.ClientKeyPath(env.PKIDir, "polres-metro")},
		"a CRL that is no CRL":        append([]string{"--operator-id", devenv.DevOperator, "--crl", write("junk.crl", []byte("junk"))}, caFlag...),
		"a CRL of another CA":         append([]string{"--operator-id", devenv.DevOperator, "--crl", write("stranger.crl", crlOf(t, stranger, true, 1, victim))}, caFlag...),
		"a CRL forged in our CA name": append([]string{"--operator-id", devenv.DevOperator, "--crl", write("forged.crl", crlOf(t, otherCA, true, 1, victim))}, caFlag...),
		"a delta CRL":                 append([]string{"--operator-id", devenv.DevOperator, "--crl", write("delta.crl", delta)}, caFlag...),
		"a CRL lifting a revocation":  append([]string{"--operator-id", devenv.DevOperator, "--crl", write("remove.crl", crlOf(t, ca, true, 8, victim))}, caFlag...),
		"a reason too long":           {"--operator-id", devenv.DevOperator, "--serial", "0a1b", "--reason", strings.Repeat("x", 501)},
	} {
		t.Run(name, func(t *testing.T) {
			before := count(t, env, `SELECT count(*) FROM certificate_revocations`)
			_, err := capture(t, func() error {
				return run(context.Background(), append([]string{"revoke-cert", "--database-url", env.DB.App, "--audit-key", env.AuditKey}, args...))
			})
			var ue usageError
			if !errors.As(err, &ue) {
				t.Fatalf("got %v, want a usage error (exit 2)", err)
			}
			if after := count(t, env, `SELECT count(*) FROM certificate_revocations`); after != before {
				t.Fatalf("revocations %d -> %d: refused input wrote something", before, after)
			}
		})
	}
}

// TestCertsCommand: the certificates calls are made with are listed by
// institution with their expiry, and exposed as a metric.
func TestCertsCommand(t *testing.T) {
	env := servertest.Start(t, pgtest.Fresh(t), servertest.Options{Configure: func(c *server.Config) { c.MetricsAddr = "127.0.0.1:0" }})
	soon := servertest.ClientTemplate("polres-metro")
	soon.NotAfter = time.Now().Add(72 * time.Hour).Truncate(time.Second)
	cfg, short := env.Issue(t, env.CA(t), soon)
	ctx := context.Background()
	for range 3 {
		if _, err := servertest.NewClients(servertest.Dial(t, env.Addr(), cfg)).Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "lapas-metro"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.As(t, "polda-lampung").Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "lapas-metro"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for count(t, env, `SELECT count(*) FROM client_certificates`) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("certificates in use not recorded")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := count(t, env, `SELECT count(*) FROM client_certificates WHERE serial = '`+pki.SerialHex(short)+`'`); n != 1 {
		t.Fatalf("%d rows for one certificate used over three connections", n)
	}
	out, err := capture(t, func() error { return run(ctx, []string{"certs", "--database-url", env.DB.App}) })
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, pki.SerialHex(short)) {
			line = l
		}
	}
	if !strings.HasPrefix(line, "polres-metro") || !strings.Contains(line, soon.NotAfter.UTC().Format(time.RFC3339)) ||
		!strings.Contains(line, "EXPIRES SOON") || !strings.Contains(line, " 2d ") {
		t.Errorf("certs line %q of:\n%s", line, out)
	}
	if !strings.Contains(out, "polda-lampung") {
		t.Errorf("certs lacks polda-lampung:\n%s", out)
	}
	out, err = capture(t, func() error {
		return run(ctx, []string{"certs", "--database-url", env.DB.App, "--expiring-within", "240h"})
	})
	if err != nil || !strings.Contains(out, pki.SerialHex(short)) || strings.Contains(out, "polda-lampung") {
		t.Errorf("certs --expiring-within 240h: %v\n%s", err, out)
	}
	resp, err := http.Get("http://" + env.Server.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := fmt.Sprintf(`sinergi_client_certificate_expiry_timestamp_seconds{institution="polres-metro",serial="%s"} %s`,
		pki.SerialHex(short), strconv.FormatFloat(float64(soon.NotAfter.Unix()), 'g', -1, 64))
	if !strings.Contains(string(body), want) {
		t.Errorf("metrics lack %s", want)
	}
}
