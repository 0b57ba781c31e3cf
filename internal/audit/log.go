package audit

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"sort"

	"golang.org/x/mod/sumdb/note"

	"github.com/sinergi-id/sinergi/internal/store"
)

// Log serves the audit log to its readers: checkpoints, inclusion and
// consistency proofs, and witnesses' cosignatures. Everything it returns
// can be checked with the log's verifier key and the RFC 6962 algorithms
// alone, without trusting the server or its database.
type Log struct {
	st   *store.Store
	keys *Keys
}

// NewLog reads the log of st.
func NewLog(st *store.Store, keys *Keys) *Log { return &Log{st: st, keys: keys} }

// Keys are the log's keys.
func (l *Log) Keys() *Keys { return l.keys }

// ErrNoCheckpoint: the log has not signed a checkpoint yet.
var ErrNoCheckpoint = errors.New("the audit log has no checkpoint yet")

// ErrInvalid is a request the log cannot answer as asked (the message says why).
type ErrInvalid struct{ Field, Msg string }

func (e *ErrInvalid) Error() string { return e.Field + ": " + e.Msg }

// Latest returns the newest signed checkpoint.
func (l *Log) Latest(ctx context.Context) (store.LogCheckpoint, error) {
	c, err := l.st.LatestLogCheckpoint(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return c, ErrNoCheckpoint
	}
	return c, err
}

// sizeOrLatest is size, or the newest checkpoint's size when size is 0
// (of the checkpoint read with the proof's hashes); it is an error for
// size to pass the newest checkpoint.
func sizeOrLatest(pr *store.ProofRead, size int64, field string) (uint64, *store.LogCheckpoint, error) {
	if !pr.HasLatest {
		return 0, nil, ErrNoCheckpoint
	}
	latest := pr.Latest
	switch {
	case size < 0:
		return 0, nil, &ErrInvalid{field, "must not be negative"}
	case size == 0:
		return uint64(latest.TreeSize), &latest, nil
	case size > latest.TreeSize:
		return 0, nil, &ErrInvalid{field, fmt.Sprintf("the log's newest checkpoint has %d leaves", latest.TreeSize)}
	}
	return uint64(size), nil, nil
}

// Inclusion is an inclusion proof of one record.
type Inclusion struct {
	Record   *store.AuditRecord
	Leaf     []byte
	Index    uint64
	TreeSize uint64
	Hashes   [][]byte
	// Checkpoint is the newest checkpoint, when the proof is against it.
	Checkpoint *store.LogCheckpoint
}

// Inclusion proves that the record with id is in the log of size (the
// newest checkpoint's when 0). store.ErrNotFound: no such record in the log.
func (l *Log) Inclusion(ctx context.Context, id int64, size int64) (*Inclusion, error) {
	// One round trip: the checkpoint, the record and its leaf, and the
	// hashes the proof needs (those outside the blocks read are read
	// after).
	pr, err := store.ReadForProof(ctx, l.st.Pool, id, nil, max(size, 0), storedEvery)
	if err != nil {
		return nil, err
	}
	n, latest, err := sizeOrLatest(pr, size, "tree_size")
	if err != nil {
		return nil, err
	}
	r := pr.Record
	if r == nil {
		return nil, store.ErrNotFound
	}
	if uint64(r.LeafIndex) >= n {
		return nil, &ErrInvalid{"tree_size", fmt.Sprintf("record %d is leaf %d, not in the first %d", id, r.LeafIndex, n)}
	}
	hashes, err := treeReader{db: l.st.Pool, near: pr.Hashes}.inclusion(ctx, uint64(r.LeafIndex), n)
	if err != nil {
		return nil, err
	}
	return &Inclusion{Record: r, Leaf: LeafBytes(r, true), Index: uint64(r.LeafIndex), TreeSize: n, Hashes: hashes, Checkpoint: latest}, nil
}

// Consistency proves that the log of size1 is a prefix of the log of
// size2 (the newest checkpoint's when 0).
func (l *Log) Consistency(ctx context.Context, size1, size2 int64) (uint64, [][]byte, *store.LogCheckpoint, error) {
	pr, err := store.ReadForProof(ctx, l.st.Pool, 0, []int64{size1 - 1}, max(size2, 0), storedEvery)
	if err != nil {
		return 0, nil, nil, err
	}
	n2, latest, err := sizeOrLatest(pr, size2, "second_tree_size")
	if err != nil {
		return 0, nil, nil, err
	}
	if size1 < 0 || uint64(size1) > n2 {
		return 0, nil, nil, &ErrInvalid{"first_tree_size", fmt.Sprintf("must be from 0 to %d", n2)}
	}
	hashes, err := treeReader{db: l.st.Pool, near: pr.Hashes}.consistency(ctx, uint64(size1), n2)
	return n2, hashes, latest, err
}

// ErrNotWitness: the caller is not registered as a witness.
var ErrNotWitness = errors.New("not a registered witness of this log")

// AddCosignature checks and keeps a witness's cosignature of one of the
// log's checkpoints: text is the checkpoint note with the log's signature
// and the witness's.
func (l *Log) AddCosignature(ctx context.Context, institution string, text []byte) (*store.Cosignature, error) {
	ws, err := l.st.Reader().Witnesses(ctx)
	if err != nil {
		return nil, err
	}
	var w *store.Witness
	for i := range ws {
		if ws[i].InstitutionCode == institution {
			w = &ws[i]
		}
	}
	if w == nil {
		return nil, ErrNotWitness
	}
	wv, err := NewCosignatureVerifier(w.VKey)
	if err != nil {
		return nil, fmt.Errorf("witness %s: registered key: %w", institution, err)
	}
	c, n, err := OpenCheckpoint(text, l.keys.Verifier(), wv)
	if err != nil {
		return nil, &ErrInvalid{"note", err.Error()}
	}
	var logSig, witnessSig *note.Signature
	for i, s := range n.Sigs {
		switch {
		case s.Name == wv.Name() && s.Hash == wv.KeyHash():
			witnessSig = &n.Sigs[i]
		case s.Name == l.keys.Verifier().Name() && s.Hash == l.keys.Verifier().KeyHash():
			logSig = &n.Sigs[i]
		}
	}
	if witnessSig == nil {
		return nil, &ErrInvalid{"note", "carries no cosignature by " + wv.Name()}
	}
	latest, err := l.Latest(ctx)
	if err != nil {
		return nil, err
	}
	if c.Size > uint64(latest.TreeSize) {
		return nil, &ErrInvalid{"note", "states a larger tree than the log's newest checkpoint"}
	}
	root, err := treeReader{db: l.st.Pool}.root(ctx, c.Size)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(root, c.Root) {
		return nil, &ErrInvalid{"note", "its root is not the log's at that size"}
	}
	cs := &store.Cosignature{WitnessCode: institution, TreeSize: int64(c.Size), RootHash: c.Root,
		Note: WithSignatures(n.Text, *logSig, *witnessSig)}
	if err := l.st.AddCosignature(ctx, *cs); err != nil {
		return nil, err
	}
	return cs, nil
}

// Witnessed is the newest checkpoint witnesses cosigned, as one note with
// the log's signature and every witness's cosignature of that size; ok is
// false when no witness has cosigned yet.
func (l *Log) Witnessed(ctx context.Context) (signed string, cosigs []store.Cosignature, ok bool, err error) {
	size, err := l.st.LatestCosignedSize(ctx)
	if err != nil || size == 0 {
		return "", nil, false, err
	}
	cosigs, err = l.st.Reader().Cosignatures(ctx, size)
	if err != nil || len(cosigs) == 0 {
		return "", nil, false, err
	}
	var text string
	seen := map[string]note.Signature{}
	for _, c := range cosigs {
		n, err := note.Open([]byte(c.Note), note.VerifierList(l.keys.Verifier()))
		if err != nil {
			continue // verify reports it; a reader gets the ones that hold
		}
		text = n.Text
		for _, s := range append(n.Sigs, n.UnverifiedSigs...) {
			seen[s.Name+"+"+fmt.Sprint(s.Hash)] = s
		}
	}
	if text == "" {
		return "", nil, false, nil
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	logName := l.keys.Verifier().Name()
	var sigs []note.Signature
	for _, k := range keys { // the log's signature first
		if seen[k].Name == logName {
			sigs = append([]note.Signature{seen[k]}, sigs...)
		} else {
			sigs = append(sigs, seen[k])
		}
	}
	return WithSignatures(text, sigs...), cosigs, true, nil
}
