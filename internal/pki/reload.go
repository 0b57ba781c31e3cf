package pki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Files is a certificate, its key and a CA bundle on disk.
type Files struct {
	Cert, Key, CA string
}

// ClientPolicy is how a server verifies client certificates.
type ClientPolicy struct {
	// TrustDomain is the SPIFFE trust domain of client identities.
	TrustDomain string
	// Intermediates names a PEM file of intermediate CAs allowed between a
	// client certificate and a root of the CA bundle; empty: none, client
	// certificates must be issued by a root itself. Intermediates a client
	// sends are never used.
	Intermediates string
}

// reloader keeps the parsed files and re-reads them when a file's size or
// modification time changes, looking at most once a second.
type reloader struct {
	files         Files
	intermediates string
	td            spiffeid.TrustDomain

	mu      sync.Mutex
	checked time.Time
	stamp   string
	loaded  loaded
}

// loaded is one reading of the files.
type loaded struct {
	cert  *tls.Certificate
	pool  *x509.CertPool // the CA bundle
	hints *x509.CertPool // the CA names a server sends clients: the bundle and the client intermediates
	trust *ClientTrust   // what client certificates are verified against (servers only)
}

func newReloader(f Files, p ClientPolicy) (*reloader, error) {
	r := &reloader{files: f, intermediates: p.Intermediates}
	if p.TrustDomain != "" {
		td, err := spiffeid.TrustDomainFromString(p.TrustDomain)
		if err != nil {
			return nil, fmt.Errorf("trust domain %q: %w", p.TrustDomain, err)
		}
		r.td = td
	}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *reloader) stampNow() string {
	s := ""
	for _, p := range []string{r.files.Cert, r.files.Key, r.files.CA, r.intermediates} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil {
			s += fmt.Sprintf("%s:%d:%d;", p, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return s
}

func (r *reloader) load() error {
	stamp := r.stampNow()
	cert, err := tls.LoadX509KeyPair(r.files.Cert, r.files.Key)
	if err != nil {
		return fmt.Errorf("load certificate: %w", err)
	}
	roots, err := ReadCertificates(r.files.CA)
	if err != nil {
		return fmt.Errorf("load CA: %w", err)
	}
	pool := x509.NewCertPool()
	for _, c := range roots {
		pool.AddCert(c)
	}
	var trust *ClientTrust
	hints := pool
	if !r.td.IsZero() {
		var inter []*x509.Certificate
		if r.intermediates != "" {
			if inter, err = ReadCertificates(r.intermediates); err != nil {
				return fmt.Errorf("load client intermediates: %w", err)
			}
		}
		if trust, err = NewClientTrust(r.td, roots, inter); err != nil {
			return fmt.Errorf("client trust: %w", err)
		}
		// A client holding only its leaf picks it by its issuer's name.
		hints = pool.Clone()
		for _, c := range inter {
			hints.AddCert(c)
		}
	}
	r.loaded, r.stamp = loaded{cert: &cert, pool: pool, hints: hints, trust: trust}, stamp
	return nil
}

// current returns the files as last read, re-reading changed ones. A file
// caught half-written keeps the previous set in service.
func (r *reloader) current() loaded {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) >= time.Second {
		r.checked = time.Now()
		if r.stampNow() != r.stamp {
			_ = r.load()
		}
	}
	return r.loaded
}

// ServerTLS is the server's mutual-TLS configuration: TLS 1.3 only, a client
// certificate required and verified as an X.509-SVID of an institution of
// the trust domain (ClientTrust.VerifyClient) against the CA bundle and the
// configured intermediates, files re-read on change. A refused handshake
// fails with a *Refusal; every refusal sends the same bad_certificate alert,
// whatever the rule, so that a caller learns nothing of which one failed.
//
// Certificate validity is judged by the wall clock, never by a test's or
// the agreements' clock.
func ServerTLS(f Files, p ClientPolicy) (*tls.Config, error) {
	if p.TrustDomain == "" {
		return nil, fmt.Errorf("server TLS needs the clients' trust domain")
	}
	r, err := newReloader(f, p)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			l := r.current()
			return &tls.Config{
				MinVersion:   tls.VersionTLS13,
				Certificates: []tls.Certificate{*l.cert},
				// The CA names go to the client as hints; verification is
				// VerifyConnection's, so that it follows the X.509-SVID
				// profile, names the rule it refuses by, and ignores
				// intermediates the client brings.
				ClientCAs:  l.hints,
				ClientAuth: tls.RequestClientCert,
				NextProtos: []string{"h2"},
				VerifyConnection: func(cs tls.ConnectionState) error {
					_, err := l.trust.VerifyClient(cs.PeerCertificates, time.Now())
					return err
				},
			}, nil
		},
	}, nil
}

// ClientTLS is a client's mutual-TLS configuration for the server at
// serverName, verifying the server against the CA.
func ClientTLS(f Files, serverName string) (*tls.Config, error) {
	r, err := newReloader(f, ClientPolicy{})
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		RootCAs:    r.current().pool,
		ServerName: serverName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return r.current().cert, nil
		},
	}, nil
}
