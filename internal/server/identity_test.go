package server_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sinergi-id/sinergi/internal/authn"
	"github.com/sinergi-id/sinergi/internal/pgtest"
	"github.com/sinergi-id/sinergi/internal/pki"
	"github.com/sinergi-id/sinergi/internal/server"
	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TestClientCertificateTable: certificates made here, each presented to a
// real server over TLS and answered as the X.509-SVID profile says; each
// refusal is in the audit trail with its rule, and counted by the metric.
func TestClientCertificateTable(t *testing.T) {
	ctx := context.Background()
	d := pgtest.Fresh(t)
	metrics := func(c *server.Config) { c.MetricsAddr = "127.0.0.1:0" }
	env := servertest.Start(t, d, servertest.Options{Configure: metrics})
	ca := env.CA(t)
	other, err := pki.NewCA("somebody else's CA")
	if err != nil {
		t.Fatal(err)
	}
	inter, err := ca.Intermediate("Sinergi regional intermediate")
	if err != nil {
		t.Fatal(err)
	}
	unconfigured, err := ca.Intermediate("an intermediate nobody configured")
	if err != nil {
		t.Fatal(err)
	}
	serverOnly, err := ca.Intermediate("an intermediate for servers only", x509.ExtKeyUsageServerAuth)
	if err != nil {
		t.Fatal(err)
	}
	interFile := filepath.Join(t.TempDir(), "intermediates.pem")
	if err := pki.WriteCert(interFile, inter.Cert); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(interFile)
	if err := pki.WriteCert(interFile+".2", serverOnly.Cert); err != nil {
		t.Fatal(err)
	}
	b2, _ := os.ReadFile(interFile + ".2")
	if err := os.WriteFile(interFile, append(b, b2...), 0o600); err != nil {
		t.Fatal(err)
	}
	withInter := servertest.Start(t, d, servertest.Options{Configure: func(c *server.Config) { metrics(c); c.ClientIntermediates = interFile }})

	tmpl := func(code string, change func(*x509.Certificate)) *x509.Certificate {
		c := servertest.ClientTemplate(code)
		if change != nil {
			change(c)
		}
		return c
	}
	uri := func(s string) func(*x509.Certificate) {
		return func(c *x509.Certificate) {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			c.URIs = []*url.URL{u}
		}
	}
	now := time.Now()
	serverPair, err := tls.LoadX509KeyPair(pki.ServerCertPath(env.PKIDir), pki.ServerKeyPath(env.PKIDir))
	if err != nil {
		t.Fatal(err)
	}
	serverCert, _ := x509.ParseCertificate(serverPair.Certificate[0])

	// Directory-level cases: a suspended institution and a revoked certificate.
	if _, err := env.Owner.Pool.Exec(ctx, `UPDATE institutions SET status = 'SUSPENDED' WHERE code = 'polsek-nusakambangan'`); err != nil {
		t.Fatal(err)
	}
	revokedCfg, revokedCert := env.Issue(t, ca, tmpl("polres-metro", nil))
	env.Revoke(t, store.Revocation{Serial: pki.SerialHex(revokedCert), Reason: "test"})
	for _, e := range []*servertest.Env{env, withInter} {
		waitFor(t, func() bool {
			snap := e.Server.Directory.Snapshot()
			return snap.Revoked(pki.SerialHex(revokedCert)) &&
				snap.Institution("polsek-nusakambangan").GetStatus() == sinergiv1.InstitutionStatus_INSTITUTION_STATUS_SUSPENDED
		})
	}

	type presented struct {
		cfg  *tls.Config
		cert *x509.Certificate
	}
	issue := func(by *pki.CA, c *x509.Certificate, chain ...*x509.Certificate) presented {
		cfg, cert := env.Issue(t, by, c, chain...)
		return presented{cfg, cert}
	}
	const ok = ""
	for _, tc := range []struct {
		name   string
		p      presented
		at     *servertest.Env
		refuse string // "" accepted; a pki rule: the handshake refuses; an authn rule: the call is refused
	}{
		{"valid police unit", issue(ca, tmpl("polres-metro", nil)), env, ok},
		{"valid, serverAuth beside clientAuth and a DNS name", issue(ca, tmpl("lapas-metro", func(c *x509.Certificate) {
			c.ExtKeyUsage = append(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
			c.DNSNames = []string{"lapas-metro.example"}
		})), env, ok},
		{"valid under a configured intermediate", issue(inter, tmpl("polda-lampung", nil), inter.Cert), withInter, ok},
		{"under an intermediate, not configured", issue(inter, tmpl("polda-lampung", nil), inter.Cert), env, string(pki.RuleUnknownCA)},
		{"under an intermediate the operator did not list", issue(unconfigured, tmpl("polda-lampung", nil), unconfigured.Cert), withInter, string(pki.RuleUnknownCA)},
		{"under a configured intermediate for servers only", issue(serverOnly, tmpl("polda-lampung", nil), serverOnly.Cert), withInter, string(pki.RuleChainInvalid)},
		{"no certificate", presented{env.NoCertificate(t), nil}, env, string(pki.RuleNoCertificate)},
		{"another CA", issue(other, tmpl("mabes-polri", nil), other.Cert), env, string(pki.RuleUnknownCA)},
		{"issued by a CA named after an institution", func() presented {
			self, err := pki.NewCA("spiffe://sinergi.go.id/institution/mabes-polri")
			if err != nil {
				t.Fatal(err)
			}
			return issue(self, tmpl("mabes-polri", nil))
		}(), env, string(pki.RuleUnknownCA)},
		{"expired", issue(ca, tmpl("polres-metro", func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = now.Add(-48*time.Hour), now.Add(-24*time.Hour)
		})), env, string(pki.RuleExpired)},
		{"not yet valid", issue(ca, tmpl("polres-metro", func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = now.Add(24*time.Hour), now.Add(48*time.Hour)
		})), env, string(pki.RuleNotYetValid)},
		{"CA:TRUE leaf", issue(ca, tmpl("mabes-polri", func(c *x509.Certificate) {
			c.BasicConstraintsValid, c.IsCA = true, true
			c.KeyUsage |= x509.KeyUsageCertSign
		})), env, string(pki.RuleLeafIsCA)},
		{"keyCertSign only", issue(ca, tmpl("mabes-polri", func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageCertSign })), env, string(pki.RuleKeyCertSign)},
		{"cRLSign beside digitalSignature", issue(ca, tmpl("mabes-polri", func(c *x509.Certificate) { c.KeyUsage |= x509.KeyUsageCRLSign })), env, string(pki.RuleCRLSign)},
		{"keyEncipherment only", issue(ca, tmpl("mabes-polri", func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyEncipherment })), env, string(pki.RuleNoDigitalSignature)},
		{"EKU any", issue(ca, tmpl("mabes-polri", func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageAny} })), env, string(pki.RuleEKUAny)},
		{"serverAuth only", issue(ca, tmpl("mabes-polri", func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} })), env, string(pki.RuleNoClientAuth)},
		{"no extended key usage", issue(ca, tmpl("mabes-polri", func(c *x509.Certificate) { c.ExtKeyUsage = nil })), env, string(pki.RuleNoClientAuth)},
		{"the server's own certificate", presented{env.Presenting(t, serverCert, serverPair.PrivateKey), serverCert}, env, string(pki.RuleNoClientAuth)},
		{"the server's SPIFFE ID for client auth", issue(ca, tmpl("x", uri("spiffe://sinergi.go.id/server"))), env, string(pki.RuleNotInstitution)},
		{"no URI SAN", issue(ca, tmpl("mabes-polri", func(c *x509.Certificate) { c.URIs = nil })), env, string(pki.RuleNoURISAN)},
		{"two URI SANs", issue(ca, tmpl("polres-metro", func(c *x509.Certificate) {
			c.URIs = append(c.URIs, pki.SPIFFEID(pki.DefaultTrustDomain, "mabes-polri"))
		})), env, string(pki.RuleManyURISANs)},
		{"percent-encoded path", issue(ca, tmpl("x", func(c *x509.Certificate) {
			c.URIs = []*url.URL{{Scheme: "spiffe", Host: pki.DefaultTrustDomain, Path: "/institution/mabes-polri", RawPath: "/institution/%6Dabes-polri"}}
		})), env, string(pki.RuleMalformedID)},
		{"dot-dot segments", issue(ca, tmpl("x", uri("spiffe://sinergi.go.id/institution/polres-metro/../mabes-polri"))), env, string(pki.RuleMalformedID)},
		{"dot segment", issue(ca, tmpl("x", uri("spiffe://sinergi.go.id/institution/./mabes-polri"))), env, string(pki.RuleMalformedID)},
		{"query string", issue(ca, tmpl("x", uri("spiffe://sinergi.go.id/institution/mabes-polri?as=admin"))), env, string(pki.RuleMalformedID)},
		{"upper-case trust domain", issue(ca, tmpl("x", uri("spiffe://SINERGI.GO.ID/institution/mabes-polri"))), env, string(pki.RuleMalformedID)},
		{"another trust domain", issue(ca, tmpl("x", uri("spiffe://evil.example/institution/mabes-polri"))), env, string(pki.RuleForeignDomain)},
		{"institution with a sub-path", issue(ca, tmpl("x", uri("spiffe://sinergi.go.id/institution/mabes-polri/admin"))), env, string(pki.RuleNotInstitution)},
		{"other path form", issue(ca, tmpl("x", uri("spiffe://sinergi.go.id/ns/default/sa/mabes-polri"))), env, string(pki.RuleNotInstitution)},
		{"unknown institution", issue(ca, tmpl("polres-atlantis", nil)), env, authn.RuleUnknownInst},
		{"suspended institution", issue(ca, tmpl("polsek-nusakambangan", nil)), env, authn.RuleSuspended},
		{"revoked", presented{revokedCfg, revokedCert}, env, authn.RuleRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := servertest.Dial(t, tc.at.Addr(), tc.p.cfg)
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, err := sinergiv1.NewInstitutionServiceClient(conn).ListInstitutions(cctx, &sinergiv1.ListInstitutionsRequest{})
			handshakeRule := false
			for _, r := range pki.ClientRules {
				handshakeRule = handshakeRule || string(r) == tc.refuse
			}
			switch {
			case tc.refuse == ok:
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			case handshakeRule:
				// The handshake refuses with one alert whatever the rule.
				if codeOf(err) != codes.Unavailable || !strings.Contains(err.Error(), "bad certificate") && !strings.Contains(err.Error(), "broken pipe") &&
					!strings.Contains(err.Error(), "connection reset") {
					t.Fatalf("got %v, want the handshake refused", err)
				}
				waitFor(t, func() bool {
					tc.at.Server.Handshakes.Flush(ctx)
					return handshakeAudited(t, env, tc.refuse, tc.p.cert)
				})
			default:
				// After the handshake, one generic UNAUTHENTICATED whatever the cause.
				if codeOf(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "present a valid client certificate of an active institution") {
					t.Fatalf("got %v, want the generic Unauthenticated", err)
				}
				var n int
				if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_records WHERE method = $1 AND decision = 'REFUSED'
					AND status_code = 'Unauthenticated' AND certificate_serial = $2 AND reason = $3`,
					sinergiv1.InstitutionService_ListInstitutions_FullMethodName, pki.SerialHex(tc.p.cert), "unauthenticated: "+tc.refuse).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n != 1 {
					t.Fatalf("%d audit records of the refused call, want 1", n)
				}
			}
		})
	}

	// Every handshake refusal is counted by reason.
	counts := map[string]int{}
	for _, e := range []*servertest.Env{env, withInter} {
		for reason, n := range handshakeMetric(t, e) {
			counts[reason] += n
		}
	}
	for reason, atLeast := range map[string]int{string(pki.RuleUnknownCA): 4, string(pki.RuleMalformedID): 4, string(pki.RuleNoClientAuth): 3,
		string(pki.RuleNoCertificate): 1, string(pki.RuleLeafIsCA): 1, string(pki.RuleEKUAny): 1, string(pki.RuleChainInvalid): 1} {
		if counts[reason] < atLeast {
			t.Errorf("metric counts %d handshakes refused for %s, want at least %d", counts[reason], reason, atLeast)
		}
	}
}

// handshakeAudited reports whether a refused handshake for rule is in the
// audit trail: with the presented certificate's fingerprint, serial and
// subject when there was one.
func handshakeAudited(t *testing.T, env *servertest.Env, rule string, cert *x509.Certificate) bool {
	t.Helper()
	q := `SELECT count(*) FROM audit_records WHERE method = $1 AND decision = 'REFUSED' AND status_code = 'Unauthenticated'
		AND reason LIKE $2 AND reason LIKE '%peer 127.0.0.1%' AND certificate_serial = $3 AND reason LIKE $4`
	serial, fp := "", "%"
	if cert != nil {
		sum := sha256.Sum256(cert.Raw)
		serial = pki.SerialHex(cert)
		fp = "%sha256 " + hex.EncodeToString(sum[:]) + "; subject " + strings.ReplaceAll(strconv.Quote(cert.Subject.String()), "%", `\%`) + "%"
	}
	var n int
	if err := env.Owner.Pool.QueryRow(context.Background(), q, authn.HandshakeMethod, "tls handshake refused: "+rule+";%", serial, fp).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// handshakeMetric reads sinergi_tls_handshake_failures_total from the
// server's /metrics.
func handshakeMetric(t *testing.T, env *servertest.Env) map[string]int {
	t.Helper()
	resp, err := http.Get("http://" + env.Server.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		rest, found := strings.CutPrefix(line, `sinergi_tls_handshake_failures_total{reason="`)
		if !found {
			continue
		}
		reason, value, _ := strings.Cut(rest, `"} `)
		n, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metric line %q", line)
		}
		out[reason] = int(n)
	}
	return out
}

// TestHandshakeFloodAggregated: a flood of refused handshakes from one
// address is counted one by one but recorded as one audit entry for the
// first and one, with the count, for the rest of the window.
func TestHandshakeFloodAggregated(t *testing.T) {
	ctx := context.Background()
	env := servertest.Start(t, pgtest.Fresh(t), servertest.Options{Configure: func(c *server.Config) {
		c.MetricsAddr = "127.0.0.1:0"
		c.HandshakeAuditWindow = 2 * time.Second
	}})
	const n = 40
	for range n {
		// A raw TLS client: one handshake, no certificate.
		raw, err := net.Dial("tcp", env.Addr())
		if err != nil {
			t.Fatal(err)
		}
		cfg := env.NoCertificate(t)
		cfg.NextProtos = []string{"h2"}
		c := tls.Client(raw, cfg)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_ = c.Handshake()
		// TLS 1.3: the server's verdict on the client certificate arrives after.
		_, _ = c.Read(make([]byte, 1))
		c.Close()
	}
	waitFor(t, func() bool { return handshakeMetric(t, env)[string(pki.RuleNoCertificate)] >= n })
	// The window closes on its own; the rest is then one record.
	type row struct {
		reason string
	}
	var rows []row
	waitFor(t, func() bool {
		rs, err := env.Owner.Pool.Query(ctx, `SELECT reason FROM audit_records WHERE method = $1 ORDER BY at`, authn.HandshakeMethod)
		if err != nil {
			t.Fatal(err)
		}
		rows = rows[:0]
		total := 0
		for rs.Next() {
			var r string
			if err := rs.Scan(&r); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, row{r})
			_, cnt, _ := strings.Cut(r, "; count ")
			k, _ := strconv.Atoi(strings.Fields(cnt + " ")[0])
			total += k
		}
		return total == n
	})
	if len(rows) > 3 {
		t.Errorf("%d audit records for %d refused handshakes from one address, want them aggregated: %v", len(rows), n, rows)
	}
	for _, r := range rows {
		if !strings.HasPrefix(r.reason, "tls handshake refused: no_certificate; peer 127.0.0.1; count ") {
			t.Errorf("audit reason %q", r.reason)
		}
	}
}

// TestClientIntermediatesReloaded: the intermediates file is re-read when
// it changes, like the certificate files: an intermediate added is trusted
// without a restart.
func TestClientIntermediatesReloaded(t *testing.T) {
	d := pgtest.Fresh(t)
	env := servertest.Start(t, d, servertest.Options{})
	ca := env.CA(t)
	a, err := ca.Intermediate("intermediate A")
	if err != nil {
		t.Fatal(err)
	}
	b, err := ca.Intermediate("intermediate B")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "intermediates.pem")
	if err := pki.WriteCert(file, a.Cert); err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, d, servertest.Options{Configure: func(c *server.Config) { c.ClientIntermediates = file }})
	call := func() error {
		cfg, _ := env.Issue(t, b, servertest.ClientTemplate("polres-metro"), b.Cert)
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := sinergiv1.NewInstitutionServiceClient(servertest.Dial(t, srv.Addr(), cfg)).ListInstitutions(cctx, &sinergiv1.ListInstitutionsRequest{})
		return err
	}
	if err := call(); codeOf(err) != codes.Unavailable {
		t.Fatalf("under an intermediate not yet listed: %v, want the handshake refused", err)
	}
	pa, _ := os.ReadFile(file)
	if err := pki.WriteCert(file+".b", b.Cert); err != nil {
		t.Fatal(err)
	}
	pb, _ := os.ReadFile(file + ".b")
	tmp := file + ".new"
	if err := os.WriteFile(tmp, append(pa, pb...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return call() == nil })
}
