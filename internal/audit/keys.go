package audit

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"
)

// Keys are what the server's host holds and the database never sees: the
// Ed25519 key that signs the log's checkpoints, and the MAC key derived
// from it that authenticates every record and every leaf. Whoever writes
// to the database without them (with the application's credentials, or
// as its superuser) writes rows that `sinergi audit verify` finds.
type Keys struct {
	priv     ed25519.PrivateKey
	mac      []byte
	origin   string
	signer   note.Signer
	vkey     string
	verifier note.Verifier
}

// NewKeys derives the log's keys from its signing key. origin names the
// log in its checkpoints (C2SP tlog-checkpoint), e.g. "sinergi.go.id/audit".
func NewKeys(priv ed25519.PrivateKey, origin string) (*Keys, error) {
	pub := priv.Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(origin, pub)
	if err != nil {
		return nil, err
	}
	signer, err := noteSigner(origin, priv)
	if err != nil {
		return nil, err
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, priv.Seed())
	m.Write([]byte("sinergi audit record MAC key/v1"))
	return &Keys{priv: priv, mac: m.Sum(nil), origin: origin, signer: signer, vkey: vkey, verifier: verifier}, nil
}

// noteSigner is an Ed25519 note signer under name: the encoded private key
// that sumdb/note parses ("PRIVATE+KEY+name+hash+key").
func noteSigner(name string, priv ed25519.PrivateKey) (note.Signer, error) {
	pub := append([]byte{1}, priv.Public().(ed25519.PublicKey)...)
	h := sha256.Sum256(append([]byte(name+"\n"), pub...))
	skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, binary.BigEndian.Uint32(h[:4]),
		b64(append([]byte{1}, priv.Seed()...)))
	return note.NewSigner(skey)
}

// DefaultOrigin is the log's name under a SPIFFE trust domain.
func DefaultOrigin(trustDomain string) string { return trustDomain + "/audit" }

// Origin is the log's name.
func (k *Keys) Origin() string { return k.origin }

// VerifierKey is the log's note verifier key (name+hash+key): what an
// auditor or a witness pins to check checkpoints.
func (k *Keys) VerifierKey() string { return k.vkey }

// PublicKey is the checkpoint signing key's public half.
func (k *Keys) PublicKey() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }

// Verifier checks the log's checkpoint signatures.
func (k *Keys) Verifier() note.Verifier { return k.verifier }

// RecordMAC authenticates a record's leaf bytes (without the MAC field).
func (k *Keys) RecordMAC(unsealed []byte) []byte {
	m := hmac.New(sha256.New, k.mac)
	m.Write([]byte("sinergi-audit-record/v1\n"))
	m.Write(unsealed)
	return m.Sum(nil)
}

// LeafMAC authenticates a leaf's position and hash.
func (k *Keys) LeafMAC(index int64, leafHash []byte) []byte {
	m := hmac.New(sha256.New, k.mac)
	m.Write([]byte("sinergi-audit-leaf/v1\n"))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(index))
	m.Write(b[:])
	m.Write(leafHash)
	return m.Sum(nil)
}

// TokenKey derives a key for another purpose (page tokens) from the
// signing key, so that one key file serves the server.
func (k *Keys) TokenKey(purpose string) []byte {
	sum := sha256.Sum256(append([]byte(purpose), k.priv.Seed()...))
	return sum[:]
}

// LoadKey reads an Ed25519 private key (PKCS #8 PEM).
func LoadKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit signing key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("audit signing key %s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("audit signing key %s: %w", path, err)
	}
	ed, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("audit signing key is not Ed25519")
	}
	return ed, nil
}

// WriteNewKey creates an Ed25519 key at path unless a file is there.
func WriteNewKey(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}
