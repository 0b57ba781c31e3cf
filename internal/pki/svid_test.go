package pki_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/sinergi-id/sinergi/internal/pki"
)

func TestParseSerial(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"0a1b2c", "a1b2c"},
		{"0A1B2C", "a1b2c"},
		{"000A1B2C", "a1b2c"},
		{"0x0a1b2c", "a1b2c"},
		{"0X0A1B2C", "a1b2c"},
		{"0a:1b:2c", "a1b2c"},
		{"00:8F:1B:2C", "8f1b2c"},
		{"0a 1b 2c", "a1b2c"},
		{"serial=0A1B2C", "a1b2c"},
		{"SERIAL=0A1B2C", "a1b2c"},
		{"  1b2c\n", "1b2c"},
		{"0", "0"},
		{"00", "0"},
		{"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"},
	} {
		got, err := pki.ParseSerial(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSerial(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if !pki.IsSerialText(tc.want) {
			t.Errorf("IsSerialText(%q) = false", tc.want)
		}
	}
	for _, bad := range []string{"", " ", "0x", "serial=", "not-hex", "0a1g", "-1a", "+1a", "0a:1", "0a::1b", ":0a", "0a:", "0a: 1b",
		"0a-1b", "0a\x001b", "１２", "0x0x1a", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff1", "12 345"} {
		if got, err := pki.ParseSerial(bad); err == nil {
			t.Errorf("ParseSerial(%q) = %q, want an error", bad, got)
		}
	}
	for _, notForm := range []string{"", "0a", "A1", "a1:b2", "-1"} {
		if pki.IsSerialText(notForm) {
			t.Errorf("IsSerialText(%q) = true", notForm)
		}
	}
	// The form of a certificate and of its serial as typed are the same.
	c := &x509.Certificate{SerialNumber: big.NewInt(0x0a1b)}
	if got, _ := pki.ParseSerial("00:0A:1B"); got != pki.SerialHex(c) {
		t.Errorf("typed %q, certificate %q", got, pki.SerialHex(c))
	}
}

func FuzzParseSerial(f *testing.F) {
	for _, s := range []string{"0a1b", "0A:1B", "serial=0A1B", "0x00ff", "zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := pki.ParseSerial(s)
		if err != nil {
			return
		}
		if !pki.IsSerialText(got) {
			t.Fatalf("ParseSerial(%q) = %q, not in the written form", s, got)
		}
		if again, err := pki.ParseSerial(got); err != nil || again != got {
			t.Fatalf("ParseSerial(%q) = %q, %v; not stable", got, again, err)
		}
	})
}

// TestVerifyClientRules: each rule of the X.509-SVID profile refuses the
// certificate that breaks it, by name; a valid SVID passes.
func TestVerifyClientRules(t *testing.T) {
	root, err := pki.NewCA("root")
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.Intermediate("intermediate")
	if err != nil {
		t.Fatal(err)
	}
	serverOnly, err := root.Intermediate("server-only intermediate", x509.ExtKeyUsageServerAuth)
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	td := spiffeid.RequireTrustDomainFromString(pki.DefaultTrustDomain)
	trust, err := pki.NewClientTrust(td, []*x509.Certificate{root.Cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	withInter, err := pki.NewClientTrust(td, []*x509.Certificate{root.Cert}, []*x509.Certificate{inter.Cert, serverOnly.Cert})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pki.NewClientTrust(td, []*x509.Certificate{root.Cert}, []*x509.Certificate{other.Cert}); err == nil {
		t.Error("an intermediate of another CA was accepted into the trust")
	}
	leafTmpl := func(uris ...string) *x509.Certificate {
		tm := &x509.Certificate{Subject: pkix.Name{CommonName: "polres-metro"}, KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		for _, u := range uris {
			pu, err := url.Parse(u)
			if err != nil {
				t.Fatal(err)
			}
			tm.URIs = append(tm.URIs, pu)
		}
		return tm
	}
	good := "spiffe://sinergi.go.id/institution/polres-metro"
	now := time.Now()
	for _, tc := range []struct {
		name  string
		by    *pki.CA
		tmpl  func() *x509.Certificate
		trust *pki.ClientTrust
		want  pki.Rule // "" for accepted
	}{
		{"valid", root, func() *x509.Certificate { return leafTmpl(good) }, trust, ""},
		{"valid with serverAuth too and a DNS name", root, func() *x509.Certificate {
			c := leafTmpl(good)
			c.ExtKeyUsage = append(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
			c.DNSNames = []string{"polres-metro.example"}
			return c
		}, trust, ""},
		{"not yet valid", root, func() *x509.Certificate {
			c := leafTmpl(good)
			c.NotBefore, c.NotAfter = now.Add(time.Hour), now.Add(2*time.Hour)
			return c
		}, trust, pki.RuleNotYetValid},
		{"expired", root, func() *x509.Certificate {
			c := leafTmpl(good)
			c.NotBefore, c.NotAfter = now.Add(-2*time.Hour), now.Add(-time.Hour)
			return c
		}, trust, pki.RuleExpired},
		{"another CA", other, func() *x509.Certificate { return leafTmpl(good) }, trust, pki.RuleUnknownCA},
		{"under an intermediate not configured", inter, func() *x509.Certificate { return leafTmpl(good) }, trust, pki.RuleUnknownCA},
		{"under a configured intermediate", inter, func() *x509.Certificate { return leafTmpl(good) }, withInter, ""},
		{"under a configured intermediate that may not issue for clients", serverOnly, func() *x509.Certificate { return leafTmpl(good) }, withInter, pki.RuleChainInvalid},
		{"CA:TRUE", root, func() *x509.Certificate {
			c := leafTmpl(good)
			c.BasicConstraintsValid, c.IsCA = true, true
			return c
		}, trust, pki.RuleLeafIsCA},
		{"keyCertSign only", root, func() *x509.Certificate {
			c := leafTmpl(good)
			c.KeyUsage = x509.KeyUsageCertSign
			return c
		}, trust, pki.RuleKeyCertSign},
		{"cRLSign", root, func() *x509.Certificate {
			c := leafTmpl(good)
			c.KeyUsage |= x509.KeyUsageCRLSign
			return c
		}, trust, pki.RuleCRLSign},
		{"no key usage", root, func() *x509.Certificate {
			c := leafTmpl(good)
			c.KeyUsage = 0
			return c
		}, trust, pki.RuleNoDigitalSignature},
		{"keyEncipherment only", root, func() *x509.Certificate {
			c := leafTmpl(good)
			c.KeyUsage = x509.KeyUsageKeyEncipherment
			return c
		}, trust, pki.RuleNoDigitalSignature},
		{"EKU any", root, func() *x509.Certificate {
			c := leafTmpl(good)
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
			return c
		}, trust, pki.RuleEKUAny},
		{"EKU any beside clientAuth", root, func() *x509.Certificate {
			c := leafTmpl(good)
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageAny}
			return c
		}, trust, pki.RuleEKUAny},
		{"serverAuth only", root, func() *x509.Certificate {
			c := leafTmpl(good)
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			return c
		}, trust, pki.RuleNoClientAuth},
		{"no EKU", root, func() *x509.Certificate {
			c := leafTmpl(good)
			c.ExtKeyUsage = nil
			return c
		}, trust, pki.RuleNoClientAuth},
		{"no URI SAN", root, func() *x509.Certificate { return leafTmpl() }, trust, pki.RuleNoURISAN},
		{"two URI SANs", root, func() *x509.Certificate { return leafTmpl(good, "spiffe://sinergi.go.id/institution/mabes-polri") }, trust, pki.RuleManyURISANs},
		{"percent-encoded path", root, func() *x509.Certificate {
			c := leafTmpl()
			c.URIs = []*url.URL{{Scheme: "spiffe", Host: "sinergi.go.id", Path: "/institution/mabes-polri", RawPath: "/institution/%6Dabes-polri"}}
			return c
		}, trust, pki.RuleMalformedID},
		{"dot-dot segment", root, func() *x509.Certificate {
			return leafTmpl("spiffe://sinergi.go.id/institution/../institution/mabes-polri")
		}, trust, pki.RuleMalformedID},
		{"dot segment", root, func() *x509.Certificate { return leafTmpl("spiffe://sinergi.go.id/institution/./mabes-polri") }, trust, pki.RuleMalformedID},
		{"trailing slash", root, func() *x509.Certificate { return leafTmpl("spiffe://sinergi.go.id/institution/mabes-polri/") }, trust, pki.RuleMalformedID},
		{"empty segment", root, func() *x509.Certificate { return leafTmpl("spiffe://sinergi.go.id/institution//mabes-polri") }, trust, pki.RuleMalformedID},
		{"query", root, func() *x509.Certificate { return leafTmpl("spiffe://sinergi.go.id/institution/mabes-polri?x=1") }, trust, pki.RuleMalformedID},
		{"port", root, func() *x509.Certificate { return leafTmpl("spiffe://sinergi.go.id:443/institution/mabes-polri") }, trust, pki.RuleMalformedID},
		{"user info", root, func() *x509.Certificate { return leafTmpl("spiffe://x@sinergi.go.id/institution/mabes-polri") }, trust, pki.RuleMalformedID},
		{"upper-case trust domain", root, func() *x509.Certificate { return leafTmpl("spiffe://SINERGI.GO.ID/institution/mabes-polri") }, trust, pki.RuleMalformedID},
		{"not spiffe", root, func() *x509.Certificate { return leafTmpl("https://sinergi.go.id/institution/mabes-polri") }, trust, pki.RuleMalformedID},
		{"another trust domain", root, func() *x509.Certificate { return leafTmpl("spiffe://evil.example/institution/mabes-polri") }, trust, pki.RuleForeignDomain},
		{"trust domain with a suffix", root, func() *x509.Certificate { return leafTmpl("spiffe://sinergi.go.id.evil/institution/mabes-polri") }, trust, pki.RuleForeignDomain},
		{"server ID", root, func() *x509.Certificate { return leafTmpl("spiffe://sinergi.go.id/server") }, trust, pki.RuleNotInstitution},
		{"institution with a sub-path", root, func() *x509.Certificate { return leafTmpl("spiffe://sinergi.go.id/institution/mabes-polri/unit") }, trust, pki.RuleNotInstitution},
		{"upper-case code", root, func() *x509.Certificate { return leafTmpl("spiffe://sinergi.go.id/institution/MABES-POLRI") }, trust, pki.RuleNotInstitution},
		{"institution path alone", root, func() *x509.Certificate { return leafTmpl("spiffe://sinergi.go.id/institution") }, trust, pki.RuleNotInstitution},
		{"trust domain alone", root, func() *x509.Certificate { return leafTmpl("spiffe://sinergi.go.id") }, trust, pki.RuleNotInstitution},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaf, _, err := tc.by.Sign(tc.tmpl())
			if err != nil {
				t.Fatal(err)
			}
			// The chain the client sends includes its issuer: it must not matter.
			chain := []*x509.Certificate{leaf, tc.by.Cert}
			id, err := tc.trust.VerifyClient(chain, now)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if id.Code != "polres-metro" || id.Serial != pki.SerialHex(leaf) || id.ID.String() != good {
					t.Fatalf("identity %+v", id)
				}
				return
			}
			var ref *pki.Refusal
			if !errors.As(err, &ref) || ref.Rule != tc.want || ref.Cert != leaf {
				t.Fatalf("got %v, want refusal %s", err, tc.want)
			}
		})
	}
	if _, err := trust.VerifyClient(nil, now); err == nil || err.(*pki.Refusal).Rule != pki.RuleNoCertificate {
		t.Errorf("no certificate: %v", err)
	}
}

// TestClientRulesAreDocumented: every rule a certificate can be refused
// for is in the README's table, by the name the audit trail and logs use.
func TestClientRulesAreDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range pki.ClientRules {
		if !strings.Contains(string(readme), "`"+string(r)+"`") {
			t.Errorf("rule %s is not in the README", r)
		}
	}
}
