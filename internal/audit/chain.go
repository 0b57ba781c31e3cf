package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sinergi-id/sinergi/internal/store"
)

// appendCanonical appends the byte string a record's chain hash covers:
// every field, each length-prefixed, in a fixed order, times as Unix
// microseconds. Any change to any field changes it.
func appendCanonical(b []byte, r *store.AuditRecord) []byte {
	b = append(b, "sinergi-audit/v1"...)
	b = appendNum(b, r.ID)
	b = appendNum(b, r.TxID)
	b = appendNum(b, r.At.UnixMicro())
	for _, s := range []string{r.RequestID, r.CallerCode, r.CertificateSerial, r.OperatorID, r.Method,
		r.Purpose, r.CaseReference, r.Decision, r.Reason} {
		b = appendStr(b, s)
	}
	b = appendList(b, r.AgreementIDs)
	b = appendStr(b, r.StatusCode)
	b = appendList(b, r.Subjects)
	return appendNum(b, r.LatencyMicros)
}

func appendNum(b []byte, v int64) []byte { return binary.BigEndian.AppendUint64(b, uint64(v)) }

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendList(b []byte, l []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, s := range l {
		b = appendStr(b, s)
	}
	return b
}

// Link is the chain hash of a record following prev: SHA-256 of prev
// followed by the record's canonical bytes. The sequencer links every
// record, so the bytes are built in one buffer, on the stack when they fit.
func Link(prev []byte, r *store.AuditRecord) []byte {
	var buf [512]byte
	sum := sha256.Sum256(appendCanonical(append(buf[:0], prev...), r))
	return sum[:]
}

// Genesis is the "previous hash" of the first record.
var Genesis = make([]byte, sha256.Size)

// checkpointBytes is what a checkpoint's signature covers.
func checkpointBytes(seq int64, head []byte, at time.Time, kind string) []byte {
	b := []byte("sinergi-audit-checkpoint/v1")
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	b = append(b, head...)
	b = binary.BigEndian.AppendUint64(b, uint64(at.UnixMicro()))
	return append(b, kind...)
}

// Signer signs checkpoints.
type Signer struct {
	key ed25519.PrivateKey
}

// NewSigner wraps a private key.
func NewSigner(key ed25519.PrivateKey) *Signer { return &Signer{key: key} }

// PublicKey is the key verifiers check checkpoints against.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Checkpoint signs the head at seq.
func (s *Signer) Checkpoint(seq int64, head []byte, at time.Time, kind string) store.Checkpoint {
	at = at.Truncate(time.Microsecond)
	return store.Checkpoint{Seq: seq, HeadHash: head, At: at, Kind: kind,
		Signature: ed25519.Sign(s.key, checkpointBytes(seq, head, at, kind)), PublicKey: s.PublicKey()}
}

// VerifyCheckpoint checks c's signature with c's own key.
func VerifyCheckpoint(c store.Checkpoint) bool {
	return len(c.PublicKey) == ed25519.PublicKeySize &&
		ed25519.Verify(c.PublicKey, checkpointBytes(c.Seq, c.HeadHash, c.At, c.Kind), c.Signature)
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
