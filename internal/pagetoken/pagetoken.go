// Package pagetoken makes opaque page tokens: the position to resume from and
// a digest of the query they belong to, sealed with an HMAC so that a
// tampered or foreign token is refused rather than obeyed.
package pagetoken

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"
	"sync"
)

// ErrInvalid is returned for a token that was altered, made for another
// query, or is not a token at all.
var ErrInvalid = errors.New("invalid page token")

// Sealer makes and opens tokens with one key.
type Sealer struct {
	key []byte
	// macs are HMACs keyed with key, reused: a stream seals a cursor for
	// every message it sends.
	macs sync.Pool
}

// New returns a Sealer using key (any length; 32 random bytes are right).
func New(key []byte) *Sealer {
	s := &Sealer{key: append([]byte(nil), key...)}
	s.macs.New = func() any { return hmac.New(sha256.New, s.key) }
	return s
}

type envelope struct {
	Query string          `json:"q"`
	After json.RawMessage `json:"a"`
}

const macLen = 16

// Seal returns a token that resumes query after position.
func (s *Sealer) Seal(query string, position any) (string, error) {
	after, err := json.Marshal(position)
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(envelope{Query: query, After: after})
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(append(body, s.mac(body)...)), nil
}

// Open reads the position from token into position, checking that the token
// is intact and was made for query.
func (s *Sealer) Open(token, query string, position any) error {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) <= macLen {
		return ErrInvalid
	}
	body, mac := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	if !hmac.Equal(mac, s.mac(body)) {
		return ErrInvalid
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil || env.Query != query {
		return ErrInvalid
	}
	if err := json.Unmarshal(env.After, position); err != nil {
		return ErrInvalid
	}
	return nil
}

func (s *Sealer) mac(body []byte) []byte {
	m := s.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(body)
	sum := m.Sum(nil)[:macLen]
	s.macs.Put(m)
	return sum
}
