package audit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/proto"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// WitnessState is what a witness keeps of the log, outside the log's
// database (a file of its own): the newest checkpoint it accepted, with
// its cosignature, and the sizes it accepted before. It is what a
// database owner cannot rewrite: `sinergi audit verify --witness-state`
// holds the database to it.
type WitnessState struct {
	// The log's verifier key the witness trusts, and the witness's name.
	LogKey  string `json:"log_key"`
	Witness string `json:"witness"`
	// The newest accepted checkpoint, as a signed note (the log's
	// signature and the witness's cosignature).
	Note     string    `json:"checkpoint"`
	TreeSize uint64    `json:"tree_size"`
	Root     string    `json:"root_hash"`
	Updated  time.Time `json:"updated"`
	// Earlier accepted checkpoints, oldest first, at most historyKept.
	History []HeldSize `json:"history,omitempty"`
}

// HeldSize is one earlier accepted checkpoint.
type HeldSize struct {
	TreeSize uint64 `json:"tree_size"`
	Root     string `json:"root_hash"`
}

func (h HeldSize) root() ([]byte, error) { return base64.StdEncoding.DecodeString(h.Root) }

const historyKept = 256

// Checkpoint opens the state's checkpoint with the log's verifier.
func (s *WitnessState) Checkpoint(logV note.Verifier) (Checkpoint, error) {
	c, _, err := OpenCheckpoint([]byte(s.Note), logV)
	if err != nil {
		return c, err
	}
	if c.Size != s.TreeSize || b64(c.Root) != s.Root {
		return c, errors.New("the state's size or root is not its checkpoint's")
	}
	return c, nil
}

// LoadWitnessState reads a witness state file; a missing file is an empty
// state (a witness's first round).
func LoadWitnessState(path string) (*WitnessState, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &WitnessState{}, nil
	}
	if err != nil {
		return nil, err
	}
	var s WitnessState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("witness state %s: %w", path, err)
	}
	return &s, nil
}

// Save writes the state to path in one rename, so that a crash leaves the
// old state or the new, never half of one.
func (s *WitnessState) Save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".witness-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ErrInconsistent is a checkpoint a witness refuses: the log shrank, or
// its new checkpoint does not extend the one the witness holds. It means
// the log was rewritten.
var ErrInconsistent = errors.New("the log is not consistent with the checkpoint this witness holds")

// Witness cosigns the log's checkpoints for one institution: each round it
// takes the newest checkpoint, checks its signature and that it extends
// the one it holds (a consistency proof), cosigns it, hands the
// cosignature back, and keeps it.
type Witness struct {
	Client   sinergiv1.AuditServiceClient
	LogKey   string
	Cosigner *Cosigner
	State    string
}

// Round is what one round did.
type Round struct {
	From, To uint64
	Cosigned bool
}

// Round runs one round. It returns an error wrapping ErrInconsistent when
// the log is not consistent with the held state, and then changes
// nothing.
func (w *Witness) Round(ctx context.Context) (*Round, error) {
	logV, err := note.NewVerifier(w.LogKey)
	if err != nil {
		return nil, fmt.Errorf("log verifier key: %w", err)
	}
	st, err := LoadWitnessState(w.State)
	if err != nil {
		return nil, err
	}
	var held Checkpoint
	if st.Note != "" {
		if st.LogKey != w.LogKey {
			return nil, fmt.Errorf("the state file %s holds a checkpoint of another log key (%s)", w.State, st.LogKey)
		}
		if held, err = st.Checkpoint(logV); err != nil {
			return nil, fmt.Errorf("the state file %s: %w", w.State, err)
		}
	}
	resp, err := w.Client.GetCheckpoint(ctx, &sinergiv1.GetCheckpointRequest{})
	if err != nil {
		return nil, fmt.Errorf("get checkpoint: %w", err)
	}
	text := []byte(resp.GetCheckpoint().GetNote())
	c, n, err := OpenCheckpoint(text, logV)
	if err != nil {
		return nil, fmt.Errorf("%w: the newest checkpoint: %v", ErrInconsistent, err)
	}
	r := &Round{From: held.Size, To: c.Size}
	switch {
	case c.Size < held.Size:
		return r, fmt.Errorf("%w: the log shrank from %d to %d leaves", ErrInconsistent, held.Size, c.Size)
	case c.Size == held.Size && st.Note != "":
		if b64(c.Root) != b64(held.Root) {
			return r, fmt.Errorf("%w: two different roots for %d leaves", ErrInconsistent, c.Size)
		}
	case held.Size > 0:
		p, err := w.Client.GetConsistencyProof(ctx, &sinergiv1.GetConsistencyProofRequest{
			FirstTreeSize: int64(held.Size), SecondTreeSize: int64(c.Size)})
		if err != nil {
			return r, fmt.Errorf("get consistency proof %d..%d: %w", held.Size, c.Size, err)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, held.Size, c.Size, p.GetHashes(), held.Root, c.Root); err != nil {
			return r, fmt.Errorf("%w: the checkpoint of %d leaves does not extend the one of %d: %v", ErrInconsistent, c.Size, held.Size, err)
		}
	}
	logSigs := []note.Signature{}
	for _, s := range n.Sigs {
		if s.Name == logV.Name() && s.Hash == logV.KeyHash() {
			logSigs = append(logSigs, s)
		}
	}
	cosigned, err := note.Sign(&note.Note{Text: n.Text, Sigs: logSigs}, w.Cosigner)
	if err != nil {
		return r, err
	}
	if _, err := w.Client.AddCosignature(ctx, &sinergiv1.AddCosignatureRequest{Note: string(cosigned)}); err != nil {
		return r, fmt.Errorf("add cosignature: %w", err)
	}
	if st.Note != "" && held.Size != c.Size {
		st.History = append(st.History, HeldSize{TreeSize: held.Size, Root: b64(held.Root)})
		if len(st.History) > historyKept {
			st.History = st.History[len(st.History)-historyKept:]
		}
	}
	st.LogKey, st.Witness, st.Note = w.LogKey, w.Cosigner.Name(), string(cosigned)
	st.TreeSize, st.Root, st.Updated = c.Size, b64(c.Root), time.Now().UTC()
	if err := st.Save(w.State); err != nil {
		return r, err
	}
	r.Cosigned = true
	return r, nil
}

// CheckRecord is what an auditor does with the API and the log's pinned
// verifier key alone: it takes the newest checkpoint, checks its
// signature, asks for the record's inclusion proof against it and checks
// the proof with the RFC 6962 algorithm; when witnesses have cosigned a
// checkpoint that holds the record, it checks the record against that one
// too (witnessed is then true). It returns the record as its leaf states
// it. leaf is the record's leaf as a listing showed it, for a record the
// caller may not read itself (nil: the proof's own).
func CheckRecord(ctx context.Context, c sinergiv1.AuditServiceClient, logKey string, access *sinergiv1.AccessContext,
	recordID int64, leaf []byte) (rec *sinergiv1.AuditLeaf, against Checkpoint, witnessed bool, err error) {
	logV, err := note.NewVerifier(logKey)
	if err != nil {
		return nil, Checkpoint{}, false, fmt.Errorf("log verifier key: %w", err)
	}
	cp, err := c.GetCheckpoint(ctx, &sinergiv1.GetCheckpointRequest{})
	if err != nil {
		return nil, Checkpoint{}, false, err
	}
	prove := func(text string) (Checkpoint, *sinergiv1.GetInclusionProofResponse, error) {
		chk, _, err := OpenCheckpoint([]byte(text), logV)
		if err != nil {
			return chk, nil, err
		}
		p, err := c.GetInclusionProof(ctx, &sinergiv1.GetInclusionProofRequest{Access: access, RecordId: recordID, TreeSize: int64(chk.Size)})
		if err != nil {
			return chk, nil, err
		}
		if leaf == nil {
			if leaf = p.GetLeaf(); leaf == nil {
				return chk, nil, fmt.Errorf("record %d is not the caller's to read: give its leaf, as the listing that showed it gave it", recordID)
			}
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(p.GetLeafIndex()), chk.Size, LeafHash(leaf), p.GetHashes(), chk.Root); err != nil {
			return chk, nil, fmt.Errorf("the inclusion proof against the checkpoint of %d leaves does not verify: %w", chk.Size, err)
		}
		return chk, p, nil
	}
	against, p, err := prove(cp.GetCheckpoint().GetNote())
	if err != nil {
		return nil, against, false, err
	}
	if w := cp.GetWitnessed(); w.GetNote() != "" && w.GetTreeSize() > p.GetLeafIndex() {
		if _, _, err := prove(w.GetNote()); err != nil {
			return nil, against, false, err
		}
		witnessed = true
	}
	var l sinergiv1.AuditLeaf
	if err := proto.Unmarshal(leaf, &l); err != nil {
		return nil, against, witnessed, fmt.Errorf("the leaf does not decode: %w", err)
	}
	if l.GetId() != recordID {
		return nil, against, witnessed, fmt.Errorf("the leaf is of record %d, not %d", l.GetId(), recordID)
	}
	return &l, against, witnessed, nil
}
