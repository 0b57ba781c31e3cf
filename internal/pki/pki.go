// Package pki owns certificates: the development PKI (a CA, a server
// certificate, and one client certificate per institution carrying its
// SPIFFE ID), the SPIFFE ID format, and TLS configurations that re-read
// certificate and CA files when they change, so rotation needs no restart.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// DefaultTrustDomain is the SPIFFE trust domain of development certificates.
const DefaultTrustDomain = "sinergi.go.id"

// SPIFFEID returns spiffe://<trustDomain>/institution/<code>.
func SPIFFEID(trustDomain, code string) *url.URL {
	return &url.URL{Scheme: "spiffe", Host: trustDomain, Path: "/institution/" + code}
}

// SerialHex is how certificate serials are written everywhere: lower-case
// hex without leading zeros (ParseSerial turns every usual spelling into it).
func SerialHex(cert *x509.Certificate) string { return SerialText(cert.SerialNumber) }

// Paths of the development PKI inside its directory.
func CACertPath(dir string) string           { return filepath.Join(dir, "ca.crt") }
func CAKeyPath(dir string) string            { return filepath.Join(dir, "ca.key") }
func ServerCertPath(dir string) string       { return filepath.Join(dir, "server.crt") }
func ServerKeyPath(dir string) string        { return filepath.Join(dir, "server.key") }
func ClientCertPath(dir, code string) string { return filepath.Join(dir, code+".crt") }
func ClientKeyPath(dir, code string) string  { return filepath.Join(dir, code+".key") }

// CA is a certificate authority able to issue certificates.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// NewCA makes a self-signed CA valid for ten years.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Sinergi development"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// LoadCA reads a CA certificate and key.
func LoadCA(certPath, keyPath string) (*CA, error) {
	cert, err := readCert(certPath)
	if err != nil {
		return nil, err
	}
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(kb)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM key", keyPath)
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Leaf describes a certificate to issue.
type Leaf struct {
	CommonName string
	URIs       []*url.URL
	DNSNames   []string
	IPs        []net.IP
	NotBefore  time.Time
	NotAfter   time.Time
	Server     bool
}

// Issue signs a new leaf certificate and returns it with its key.
func (ca *CA) Issue(l Leaf) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	if l.NotBefore.IsZero() {
		l.NotBefore = time.Now().Add(-time.Hour)
	}
	if l.NotAfter.IsZero() {
		l.NotAfter = time.Now().AddDate(1, 0, 0)
	}
	usage := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if l.Server {
		usage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: l.CommonName},
		NotBefore:    l.NotBefore,
		NotAfter:     l.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
		URIs:         l.URIs,
		DNSNames:     l.DNSNames,
		IPAddresses:  l.IPs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// Sign issues a certificate from tmpl as it stands (a test's odd
// certificate, an intermediate), with a new key; a zero serial or validity
// gets the defaults of Issue.
func (ca *CA) Sign(tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	t := *tmpl
	if t.SerialNumber == nil {
		t.SerialNumber = randomSerial()
	}
	if t.NotBefore.IsZero() {
		t.NotBefore = time.Now().Add(-time.Hour)
	}
	if t.NotAfter.IsZero() {
		t.NotAfter = time.Now().AddDate(1, 0, 0)
	}
	der, err := x509.CreateCertificate(rand.Reader, &t, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// Intermediate issues an intermediate CA under ca; ekus, when given, limit
// what it may issue for.
func (ca *CA) Intermediate(name string, ekus ...x509.ExtKeyUsage) (*CA, error) {
	cert, key, err := ca.Sign(&x509.Certificate{
		Subject:  pkix.Name{CommonName: name, Organization: []string{"Sinergi development"}},
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, ExtKeyUsage: ekus,
		BasicConstraintsValid: true, IsCA: true, NotAfter: time.Now().AddDate(5, 0, 0),
	})
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n.Add(n, big.NewInt(1))
}

// WriteCert writes a certificate as PEM.
func WriteCert(path string, cert *x509.Certificate) error {
	return writeAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644)
}

// WriteKey writes an EC private key as PEM, readable by the owner only.
func WriteKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return writeAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

// writeAtomic replaces path in one rename, so a reader never sees half a file.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return x509.ParseCertificate(block.Bytes)
}

// DevPKI creates, in dir, whatever of the development PKI is missing: the
// CA, the server certificate (127.0.0.1 and localhost), and a client
// certificate per institution code. Existing files are kept, so that
// re-running `make run` reuses them. It returns the codes it issued for.
func DevPKI(dir, trustDomain string, codes []string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var ca *CA
	if _, err := os.Stat(CACertPath(dir)); err == nil {
		if ca, err = LoadCA(CACertPath(dir), CAKeyPath(dir)); err != nil {
			return nil, fmt.Errorf("load development CA: %w", err)
		}
	} else {
		if ca, err = NewCA("Sinergi development CA"); err != nil {
			return nil, err
		}
		if err := WriteKey(CAKeyPath(dir), ca.Key); err != nil {
			return nil, err
		}
		if err := WriteCert(CACertPath(dir), ca.Cert); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(ServerCertPath(dir)); err != nil {
		cert, key, err := ca.Issue(Leaf{CommonName: "sinergi server", DNSNames: []string{"localhost"},
			IPs: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}, Server: true,
			URIs: []*url.URL{{Scheme: "spiffe", Host: trustDomain, Path: "/server"}}})
		if err != nil {
			return nil, err
		}
		if err := WriteKey(ServerKeyPath(dir), key); err != nil {
			return nil, err
		}
		if err := WriteCert(ServerCertPath(dir), cert); err != nil {
			return nil, err
		}
	}
	var issued []string
	for _, code := range codes {
		if _, err := os.Stat(ClientCertPath(dir, code)); err == nil {
			continue
		}
		cert, key, err := ca.Issue(Leaf{CommonName: code, URIs: []*url.URL{SPIFFEID(trustDomain, code)}})
		if err != nil {
			return nil, err
		}
		if err := WriteKey(ClientKeyPath(dir, code), key); err != nil {
			return nil, err
		}
		if err := WriteCert(ClientCertPath(dir, code), cert); err != nil {
			return nil, err
		}
		issued = append(issued, code)
	}
	return issued, nil
}
