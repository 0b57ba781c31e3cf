package servertest

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"testing"

	"github.com/sinergi-id/sinergi/internal/pki"
)

// CA is the development CA of the test PKI (it issued every institution's
// certificate and the server's).
func (e *Env) CA(t testing.TB) *pki.CA {
	t.Helper()
	ca, err := pki.LoadCA(pki.CACertPath(e.PKIDir), pki.CAKeyPath(e.PKIDir))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// ClientTemplate is a valid X.509-SVID template for institution code, to
// be changed by a test before signing.
func ClientTemplate(code string) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: code},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:        []*url.URL{pki.SPIFFEID(pki.DefaultTrustDomain, code)},
	}
}

// Issue signs tmpl by ca and returns a client configuration presenting it
// (with chain after it, as a client bundles its intermediates), and the
// certificate.
func (e *Env) Issue(t testing.TB, ca *pki.CA, tmpl *x509.Certificate, chain ...*x509.Certificate) (*tls.Config, *x509.Certificate) {
	t.Helper()
	cert, key, err := ca.Sign(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	return e.Presenting(t, cert, key, chain...), cert
}

// Fresh issues a new valid certificate for institution code: one a test
// may revoke without touching the shared ones.
func (e *Env) Fresh(t testing.TB, code string) (*tls.Config, *x509.Certificate) {
	t.Helper()
	return e.Issue(t, e.CA(t), ClientTemplate(code))
}

// Presenting is a client configuration that always presents cert (and
// chain), whatever CAs the server names: a client that sends a certificate
// the server will refuse, as an attacker would.
func (e *Env) Presenting(t testing.TB, cert *x509.Certificate, key crypto.PrivateKey, chain ...*x509.Certificate) *tls.Config {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(e.CA(t).Cert)
	tc := &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
	for _, c := range chain {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return tc, nil }}
}

// NoCertificate is a client configuration that presents no certificate.
func (e *Env) NoCertificate(t testing.TB) *tls.Config {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(e.CA(t).Cert)
	return &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13}
}
