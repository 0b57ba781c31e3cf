package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is what a signed checkpoint states (C2SP tlog-checkpoint):
// the log's origin, its size, and its root hash.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte
}

// Body is the checkpoint's note text.
func (c Checkpoint) Body() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, b64(c.Root))
}

// SignCheckpoint signs the checkpoint of the log at size with root.
func (k *Keys) SignCheckpoint(size uint64, root []byte) (string, error) {
	b, err := note.Sign(&note.Note{Text: Checkpoint{Origin: k.origin, Size: size, Root: root}.Body()}, k.signer)
	return string(b), err
}

// OpenCheckpoint checks a checkpoint note's signature by the log
// (logVerifier) and parses it. Other signatures it carries (witnesses')
// are returned unverified in the note, unless their verifiers are given.
func OpenCheckpoint(text []byte, logVerifier note.Verifier, others ...note.Verifier) (Checkpoint, *note.Note, error) {
	n, err := note.Open(text, note.VerifierList(append([]note.Verifier{logVerifier}, others...)...))
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("checkpoint: %w", err)
	}
	signedByLog := false
	for _, s := range n.Sigs {
		if s.Name == logVerifier.Name() && s.Hash == logVerifier.KeyHash() {
			signedByLog = true
		}
	}
	if !signedByLog {
		return Checkpoint{}, nil, errors.New("checkpoint: not signed by the log")
	}
	c, err := parseBody(n.Text)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	if c.Origin != logVerifier.Name() {
		return Checkpoint{}, nil, fmt.Errorf("checkpoint: origin %q is not the log's (%q)", c.Origin, logVerifier.Name())
	}
	return c, n, nil
}

func parseBody(text string) (Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return Checkpoint{}, errors.New("checkpoint: fewer than three lines")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return Checkpoint{}, errors.New("checkpoint: bad tree size")
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != sha256.Size {
		return Checkpoint{}, errors.New("checkpoint: bad root hash")
	}
	return Checkpoint{Origin: lines[0], Size: size, Root: root}, nil
}

// Witness cosignatures follow C2SP tlog-cosignature: an Ed25519 signature
// over "cosignature/v1\ntime <seconds>\n" and the checkpoint's text, with
// the time as eight big-endian bytes before the signature; a key is
// named as a note key whose algorithm byte is 0x04.
const cosignatureAlg = 0x04

// Cosigner signs checkpoints as a witness: a note.Signer.
type Cosigner struct {
	name string
	priv ed25519.PrivateKey
	hash uint32
	// Now is the clock of the cosignature's time.
	Now func() time.Time
}

// NewCosigner is a witness cosigner named name.
func NewCosigner(name string, priv ed25519.PrivateKey) *Cosigner {
	return &Cosigner{name: name, priv: priv, hash: cosignKeyHash(name, priv.Public().(ed25519.PublicKey)), Now: time.Now}
}

func cosignKeyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.Sum256(append(append([]byte(name+"\n"), cosignatureAlg), pub...))
	return binary.BigEndian.Uint32(h[:4])
}

// Name is the cosigner's key name.
func (c *Cosigner) Name() string { return c.name }

// KeyHash is the cosigner's key hash.
func (c *Cosigner) KeyHash() uint32 { return c.hash }

// Sign cosigns a checkpoint's text.
func (c *Cosigner) Sign(msg []byte) ([]byte, error) {
	t := uint64(c.Now().Unix())
	sig := ed25519.Sign(c.priv, cosignedMessage(t, msg))
	return append(binary.BigEndian.AppendUint64(nil, t), sig...), nil
}

// VerifierKey is the cosigner's verifier key, as witnesses are registered.
func (c *Cosigner) VerifierKey() string {
	pub := c.priv.Public().(ed25519.PublicKey)
	return fmt.Sprintf("%s+%08x+%s", c.name, c.hash, b64(append([]byte{cosignatureAlg}, pub...)))
}

func cosignedMessage(t uint64, text []byte) []byte {
	return append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), text...)
}

// cosignVerifier checks a witness's cosignatures: a note.Verifier.
type cosignVerifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

// NewCosignatureVerifier parses a witness's verifier key.
func NewCosignatureVerifier(vkey string) (note.Verifier, error) {
	name, rest, _ := strings.Cut(vkey, "+")
	hash16, key64, _ := strings.Cut(rest, "+")
	hash, err1 := strconv.ParseUint(hash16, 16, 32)
	key, err2 := base64.StdEncoding.DecodeString(key64)
	if name == "" || strings.ContainsAny(name, " \t\n+") || len(hash16) != 8 || err1 != nil || err2 != nil ||
		len(key) != 1+ed25519.PublicKeySize || key[0] != cosignatureAlg {
		return nil, errors.New("not a cosignature verifier key (name+hash+key, algorithm 0x04)")
	}
	pub := ed25519.PublicKey(key[1:])
	if uint32(hash) != cosignKeyHash(name, pub) {
		return nil, errors.New("cosignature verifier key: hash does not match the key")
	}
	return &cosignVerifier{name: name, hash: uint32(hash), pub: pub}, nil
}

func (v *cosignVerifier) Name() string    { return v.name }
func (v *cosignVerifier) KeyHash() uint32 { return v.hash }
func (v *cosignVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	return ed25519.Verify(v.pub, cosignedMessage(t, msg), sig[8:])
}

// CosignatureTime returns the time a verified cosignature line states.
func CosignatureTime(s note.Signature) (time.Time, error) {
	raw, err := base64.StdEncoding.DecodeString(s.Base64)
	if err != nil || len(raw) != 4+8+ed25519.SignatureSize {
		return time.Time{}, errors.New("not a cosignature")
	}
	return time.Unix(int64(binary.BigEndian.Uint64(raw[4:12])), 0), nil
}

// signatureLine is a note's signature line for s.
func signatureLine(s note.Signature) string { return "— " + s.Name + " " + s.Base64 + "\n" }

// WithSignatures is text (a note's text) with the given signature lines.
func WithSignatures(text string, sigs ...note.Signature) string {
	var b bytes.Buffer
	b.WriteString(text)
	b.WriteString("\n")
	for _, s := range sigs {
		b.WriteString(signatureLine(s))
	}
	return b.String()
}
