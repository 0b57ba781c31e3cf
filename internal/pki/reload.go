package pki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"time"
)

// Files is a certificate, its key and a CA bundle on disk.
type Files struct {
	Cert, Key, CA string
}

// reloader keeps the parsed files and re-reads them when a file's size or
// modification time changes, looking at most once a second.
type reloader struct {
	files Files

	mu      sync.Mutex
	checked time.Time
	stamp   string
	cert    *tls.Certificate
	pool    *x509.CertPool
}

func newReloader(f Files) (*reloader, error) {
	r := &reloader{files: f}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *reloader) stampNow() string {
	s := ""
	for _, p := range []string{r.files.Cert, r.files.Key, r.files.CA} {
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
	caPEM, err := os.ReadFile(r.files.CA)
	if err != nil {
		return fmt.Errorf("load CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("load CA: no certificate in %s", r.files.CA)
	}
	r.cert, r.pool, r.stamp = &cert, pool, stamp
	return nil
}

// current returns the certificate and CA pool, re-reading changed files.
// A file caught half-written keeps the previous pair in service.
func (r *reloader) current() (*tls.Certificate, *x509.CertPool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) >= time.Second {
		r.checked = time.Now()
		if r.stampNow() != r.stamp {
			_ = r.load()
		}
	}
	return r.cert, r.pool
}

// ServerTLS is the server's mutual-TLS configuration: TLS 1.3 only, a client
// certificate required and verified against the CA, files re-read on change.
func ServerTLS(f Files) (*tls.Config, error) {
	r, err := newReloader(f)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cert, pool := r.current()
			return &tls.Config{
				MinVersion:   tls.VersionTLS13,
				Certificates: []tls.Certificate{*cert},
				ClientCAs:    pool,
				ClientAuth:   tls.RequireAndVerifyClientCert,
				NextProtos:   []string{"h2"},
			}, nil
		},
	}, nil
}

// ClientTLS is a client's mutual-TLS configuration for the server at
// serverName, verifying the server against the CA.
func ClientTLS(f Files, serverName string) (*tls.Config, error) {
	r, err := newReloader(f)
	if err != nil {
		return nil, err
	}
	_, pool := r.current()
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		RootCAs:    pool,
		ServerName: serverName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, _ := r.current()
			return cert, nil
		},
	}, nil
}
