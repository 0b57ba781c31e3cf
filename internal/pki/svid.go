package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/sinergi-id/sinergi/internal/validate"
)

// Rule names one condition a client certificate must meet. A refused
// certificate is refused for the first rule it breaks, in the order below;
// the name goes to the audit trail, the log and the handshake metric,
// never to the caller.
type Rule string

// The rules of the X.509-SVID profile (https://github.com/spiffe/spiffe,
// standards/X509-SVID.md) as Sinergi applies them to client certificates,
// in the order they are checked.
const (
	RuleNoCertificate      Rule = "no_certificate"       // the client sent none
	RuleNotYetValid        Rule = "not_yet_valid"        // before its notBefore
	RuleExpired            Rule = "expired"              // after its notAfter
	RuleUnknownCA          Rule = "unknown_ca"           // no chain to a root of the CA bundle through the configured intermediates
	RuleChainInvalid       Rule = "chain_invalid"        // a chain exists but breaks a constraint (an expired intermediate, an intermediate not for client auth, ...)
	RuleLeafIsCA           Rule = "leaf_is_ca"           // basicConstraints CA:TRUE
	RuleKeyCertSign        Rule = "key_cert_sign"        // key usage allows signing certificates
	RuleCRLSign            Rule = "crl_sign"             // key usage allows signing CRLs
	RuleNoDigitalSignature Rule = "no_digital_signature" // key usage lacks digitalSignature (or is absent)
	RuleEKUAny             Rule = "eku_any"              // extended key usage "any"
	RuleNoClientAuth       Rule = "no_client_auth_eku"   // extended key usage lacks clientAuth (or is absent)
	RuleNoURISAN           Rule = "no_uri_san"           // no URI SAN: no SPIFFE ID
	RuleManyURISANs        Rule = "multiple_uri_sans"    // more than one URI SAN
	RuleMalformedID        Rule = "malformed_spiffe_id"  // the URI SAN is not a SPIFFE ID (percent-encoding, dot segments, query, port, upper-case trust domain, ...)
	RuleForeignDomain      Rule = "foreign_trust_domain" // a SPIFFE ID of another trust domain
	RuleNotInstitution     Rule = "not_institution_id"   // the path is not exactly /institution/<code>
	RuleSVIDInvalid        Rule = "svid_invalid"         // go-spiffe's own X.509-SVID verification refused it
)

// ClientRules lists the rules in checking order (for metrics and docs).
var ClientRules = []Rule{RuleNoCertificate, RuleNotYetValid, RuleExpired, RuleUnknownCA, RuleChainInvalid,
	RuleLeafIsCA, RuleKeyCertSign, RuleCRLSign, RuleNoDigitalSignature, RuleEKUAny, RuleNoClientAuth,
	RuleNoURISAN, RuleManyURISANs, RuleMalformedID, RuleForeignDomain, RuleNotInstitution, RuleSVIDInvalid}

// Refusal is why a client certificate was refused.
type Refusal struct {
	Rule Rule
	// Cert is the presented leaf, nil when there was none.
	Cert *x509.Certificate
	Err  error
}

func (r *Refusal) Error() string {
	if r.Err != nil {
		return "client certificate refused (" + string(r.Rule) + "): " + r.Err.Error()
	}
	return "client certificate refused (" + string(r.Rule) + ")"
}

func (r *Refusal) Unwrap() error { return r.Err }

func refuse(rule Rule, leaf *x509.Certificate, err error) *Refusal {
	return &Refusal{Rule: rule, Cert: leaf, Err: err}
}

// Identity is a verified client certificate's identity.
type Identity struct {
	ID spiffeid.ID
	// Code is the institution code of the SPIFFE ID's path.
	Code string
	// Serial is the certificate serial in its one written form (SerialHex).
	Serial string
	// Fingerprint is the SHA-256 of the certificate's DER.
	Fingerprint     [32]byte
	NotBefore       time.Time
	NotAfter        time.Time
	Subject, Issuer string
}

// FingerprintHex is the fingerprint in lower-case hex.
func (id *Identity) FingerprintHex() string { return hex.EncodeToString(id.Fingerprint[:]) }

// InstitutionPath is the SPIFFE ID path prefix naming an institution.
const InstitutionPath = "/institution/"

// InstitutionID is spiffe://<td>/institution/<code>.
func InstitutionID(td spiffeid.TrustDomain, code string) (spiffeid.ID, error) {
	return spiffeid.FromSegments(td, "institution", code)
}

// CodeOf returns the institution code named by id, which must be exactly
// /institution/<code> with code a valid institution code.
func CodeOf(id spiffeid.ID) (string, error) {
	code, ok := strings.CutPrefix(id.Path(), InstitutionPath)
	if !ok || !validate.Code.MatchString(code) {
		return "", errors.New("SPIFFE ID path is not /institution/<code>")
	}
	return code, nil
}

// IdentityOf reads the identity of a leaf certificate: its one URI SAN must
// be spiffe://<td>/institution/<code>. It checks nothing else; VerifyClient
// does.
func IdentityOf(leaf *x509.Certificate, td spiffeid.TrustDomain) (*Identity, error) {
	id, err := x509svid.IDFromCert(leaf)
	if err != nil {
		return nil, err
	}
	if !id.MemberOf(td) {
		return nil, fmt.Errorf("SPIFFE ID of trust domain %q, not %q", id.TrustDomain().Name(), td.Name())
	}
	code, err := CodeOf(id)
	if err != nil {
		return nil, err
	}
	return &Identity{ID: id, Code: code, Serial: SerialHex(leaf), Fingerprint: sha256.Sum256(leaf.Raw),
		NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String()}, nil
}

// ClientTrust is what client certificates are verified against: the roots
// of the CA bundle and the intermediates the operator allows between them
// and a client certificate. Intermediates a client sends are not used: an
// intermediate CA is trusted only when it is configured.
type ClientTrust struct {
	TrustDomain   spiffeid.TrustDomain
	Roots         []*x509.Certificate
	Intermediates []*x509.Certificate
	rootPool      *x509.CertPool
	interPool     *x509.CertPool
	bundle        *x509bundle.Bundle
}

// NewClientTrust prepares roots and intermediates for verification. Every
// intermediate must be a CA certificate that chains to one of the roots.
func NewClientTrust(td spiffeid.TrustDomain, roots, intermediates []*x509.Certificate) (*ClientTrust, error) {
	if len(roots) == 0 {
		return nil, errors.New("no CA certificate to verify client certificates against")
	}
	t := &ClientTrust{TrustDomain: td, Roots: roots, Intermediates: intermediates,
		rootPool: x509.NewCertPool(), interPool: x509.NewCertPool(), bundle: x509bundle.FromX509Authorities(td, roots)}
	for _, r := range roots {
		t.rootPool.AddCert(r)
	}
	for _, c := range intermediates {
		t.interPool.AddCert(c)
	}
	if err := checkIntermediates(t.rootPool, t.interPool, intermediates); err != nil {
		return nil, err
	}
	return t, nil
}

// CheckIntermediates checks that every intermediate is a CA certificate
// that chains to one of roots (through the others).
func CheckIntermediates(roots, intermediates []*x509.Certificate) error {
	rp, ip := x509.NewCertPool(), x509.NewCertPool()
	for _, r := range roots {
		rp.AddCert(r)
	}
	for _, c := range intermediates {
		ip.AddCert(c)
	}
	return checkIntermediates(rp, ip, intermediates)
}

func checkIntermediates(roots, pool *x509.CertPool, intermediates []*x509.Certificate) error {
	for _, c := range intermediates {
		if !c.BasicConstraintsValid || !c.IsCA {
			return fmt.Errorf("intermediate %q is not a CA certificate", c.Subject)
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: pool,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return fmt.Errorf("intermediate %q does not chain to the CA bundle: %w", c.Subject, err)
		}
	}
	return nil
}

// VerifyClient checks a presented chain (leaf first; the rest is ignored)
// as an X.509-SVID of an institution at now, and returns its identity. A
// refusal is a *Refusal naming the first rule broken.
func (t *ClientTrust) VerifyClient(chain []*x509.Certificate, now time.Time) (*Identity, error) {
	if len(chain) == 0 {
		return nil, refuse(RuleNoCertificate, nil, nil)
	}
	leaf := chain[0]
	switch {
	case now.Before(leaf.NotBefore):
		return nil, refuse(RuleNotYetValid, leaf, nil)
	case now.After(leaf.NotAfter):
		return nil, refuse(RuleExpired, leaf, nil)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: t.rootPool, Intermediates: t.interPool, CurrentTime: now,
		// Extended key usage is the leaf's rule below, and the chain's after.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		var unknown x509.UnknownAuthorityError
		if errors.As(err, &unknown) {
			return nil, refuse(RuleUnknownCA, leaf, err)
		}
		return nil, refuse(RuleChainInvalid, leaf, err)
	}
	if !someChainAllowsClientAuth(chains) {
		return nil, refuse(RuleChainInvalid, leaf, errors.New("no chain whose CAs allow client authentication"))
	}
	switch ku := leaf.KeyUsage; {
	case leaf.BasicConstraintsValid && leaf.IsCA:
		return nil, refuse(RuleLeafIsCA, leaf, nil)
	case ku&x509.KeyUsageCertSign != 0:
		return nil, refuse(RuleKeyCertSign, leaf, nil)
	case ku&x509.KeyUsageCRLSign != 0:
		return nil, refuse(RuleCRLSign, leaf, nil)
	case ku&x509.KeyUsageDigitalSignature == 0:
		return nil, refuse(RuleNoDigitalSignature, leaf, nil)
	}
	clientAuth := false
	for _, u := range leaf.ExtKeyUsage {
		switch u {
		case x509.ExtKeyUsageAny:
			return nil, refuse(RuleEKUAny, leaf, nil)
		case x509.ExtKeyUsageClientAuth:
			clientAuth = true
		}
	}
	if !clientAuth {
		return nil, refuse(RuleNoClientAuth, leaf, nil)
	}
	switch n := len(leaf.URIs); {
	case n == 0:
		return nil, refuse(RuleNoURISAN, leaf, nil)
	case n > 1:
		return nil, refuse(RuleManyURISANs, leaf, nil)
	}
	id, err := x509svid.IDFromCert(leaf)
	if err != nil {
		return nil, refuse(RuleMalformedID, leaf, err)
	}
	if !id.MemberOf(t.TrustDomain) {
		return nil, refuse(RuleForeignDomain, leaf, nil)
	}
	if _, err := CodeOf(id); err != nil {
		return nil, refuse(RuleNotInstitution, leaf, err)
	}
	// go-spiffe's own verification has the last word.
	if _, _, err := x509svid.Verify(append([]*x509.Certificate{leaf}, t.Intermediates...), t.bundle, x509svid.WithTime(now)); err != nil {
		return nil, refuse(RuleSVIDInvalid, leaf, err)
	}
	return IdentityOf(leaf, t.TrustDomain)
}

// someChainAllowsClientAuth: a CA whose extended key usage is restricted
// must allow client authentication (or any), as crypto/tls would require.
func someChainAllowsClientAuth(chains [][]*x509.Certificate) bool {
	for _, ch := range chains {
		ok := true
		for _, ca := range ch[1:] {
			if len(ca.ExtKeyUsage) == 0 && len(ca.UnknownExtKeyUsage) == 0 {
				continue
			}
			allows := false
			for _, u := range ca.ExtKeyUsage {
				if u == x509.ExtKeyUsageAny || u == x509.ExtKeyUsageClientAuth {
					allows = true
				}
			}
			ok = ok && allows
		}
		if ok {
			return true
		}
	}
	return false
}
