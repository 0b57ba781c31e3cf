package screening

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"github.com/sinergi-id/sinergi/internal/pagetoken"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Keys make what screening hands out or records about people without
// carrying who they are: the token that proves a screening at the visit
// register, the digest that ties it to the visitor, and the pseudonyms that
// name screened people as audit subjects. All derive from one secret (the
// server's, internal/server), so only the server can make or check them:
// a NIK's pseudonym cannot be found by hashing candidate NIKs.
type Keys struct {
	tokens            *pagetoken.Sealer
	identity, persons []byte
}

// NewKeys derives the keys from secret (32 random bytes, or a key derived
// from the server's).
func NewKeys(secret []byte) *Keys {
	derive := func(purpose string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(purpose))
		return m.Sum(nil)
	}
	return &Keys{tokens: pagetoken.New(derive("sinergi screening tokens/v1")), identity: derive("sinergi screening identity/v1"),
		persons: derive("sinergi person pseudonyms/v1")}
}

// normalized is how a person is compared: the NIK as given, the name
// lower-cased with single spaces (as custody search compares names), the
// birth date.
func normalized(p *sinergiv1.ScreenedPerson) (nik, name, birth string) {
	return p.GetNik(), store.NormalizeName(p.GetFullName()), p.GetBirthDate()
}

func (k *Keys) mac(key []byte, parts ...string) string {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// Identity is the digest of a person as screened (NIK, name and birth
// date): a visit registered with a screening must give the same.
func (k *Keys) Identity(p *sinergiv1.ScreenedPerson) string {
	nik, name, birth := normalized(p)
	return k.mac(k.identity, nik, name, birth)
}

// Person is the audit subject naming a person who need not be an inmate:
// "person/<pseudonym>" of their NIK, or of their name and birth date when
// they have none. The same person screened at two facilities, or screened
// and then visiting, has the same subject.
func (k *Keys) Person(p *sinergiv1.ScreenedPerson) string {
	nik, name, birth := normalized(p)
	if nik != "" {
		return "person/" + k.mac(k.persons, "nik", nik)
	}
	return "person/" + k.mac(k.persons, "name", name, birth)
}

// Grant is what a screening token carries: enough to check a visit
// against it, and nothing that names the person.
type Grant struct {
	ID       string                 `json:"id"`
	Facility string                 `json:"f"`
	Role     sinergiv1.ScreenedRole `json:"r"`
	// Identity is the screened person's digest (Keys.Identity).
	Identity    string                        `json:"p"`
	Inmate      string                        `json:"i,omitempty"`
	Result      sinergiv1.ScreeningResult     `json:"res"`
	Instruction sinergiv1.HandlingInstruction `json:"ins,omitempty"`
	// Times in microseconds since the epoch.
	ScreenMicros int64 `json:"t"`
	VisitMicros  int64 `json:"v"`
	ExpireMicros int64 `json:"x"`
}

const tokenQuery = "screening"

// Seal makes the token of g.
func (k *Keys) Seal(g Grant) (string, error) { return k.tokens.Seal(tokenQuery, g) }

// ErrToken is a token that was altered, forged, or is no token.
var ErrToken = errors.New("not a screening token of this service")

// Open checks a token and returns what it carries.
func (k *Keys) Open(token string) (*Grant, error) {
	var g Grant
	if err := k.tokens.Open(token, tokenQuery, &g); err != nil {
		return nil, ErrToken
	}
	return &g, nil
}
