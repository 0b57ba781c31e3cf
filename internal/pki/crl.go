package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// oidDeltaCRLIndicator marks a delta CRL (RFC 5280 5.2.4).
var oidDeltaCRLIndicator = asn1.ObjectIdentifier{2, 5, 29, 27}

// CheckCRL parses a CRL (PEM "X509 CRL" or DER) and checks that one of cas
// issued it: the CRL's issuer is that CA's subject and the CA's key signed
// it (crypto/x509 also requires the CA to be allowed to sign CRLs). It
// returns the CRL and the CA. Delta CRLs are refused: Sinergi never lifts
// a revocation, and a delta's removeFromCRL entries would ask it to.
func CheckCRL(data []byte, cas []*x509.Certificate) (*x509.RevocationList, *x509.Certificate, error) {
	der := data
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "X509 CRL" {
			return nil, nil, fmt.Errorf("PEM block %q is not an X509 CRL", block.Type)
		}
		der = block.Bytes
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, nil, fmt.Errorf("not a CRL: %w", err)
	}
	for _, ext := range crl.Extensions {
		if ext.Id.Equal(oidDeltaCRLIndicator) {
			return nil, nil, errors.New("a delta CRL: import the full CRL instead")
		}
	}
	var lastErr error
	for _, ca := range cas {
		if !bytes.Equal(crl.RawIssuer, ca.RawSubject) {
			continue
		}
		if err := crl.CheckSignatureFrom(ca); err != nil {
			lastErr = err
			continue
		}
		return crl, ca, nil
	}
	if lastErr != nil {
		return nil, nil, fmt.Errorf("CRL issued by %q is not validly signed by that CA of the bundle: %w", crl.Issuer, lastErr)
	}
	return nil, nil, fmt.Errorf("CRL issued by %q, which is not a CA of the bundle", crl.Issuer)
}

// ReadCertificates reads every PEM certificate of a file.
func ReadCertificates(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, err := ParseCertificates(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return certs, nil
}

// ParseCertificates parses every PEM CERTIFICATE block of b; there must be one.
func ParseCertificates(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return certs, nil
}

// ParseCertificateFile reads the certificate of a file, PEM or DER. A PEM
// file holding a chain gives its first certificate, the leaf.
func ParseCertificateFile(b []byte) (*x509.Certificate, error) {
	if certs, err := ParseCertificates(b); err == nil {
		return certs[0], nil
	} else if bytes.Contains(b, []byte("-----BEGIN")) {
		return nil, err
	}
	c, err := x509.ParseCertificate(b)
	if err != nil {
		return nil, errors.New("neither a PEM nor a DER certificate")
	}
	return c, nil
}
