package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/sinergi-id/sinergi/internal/store"
)

// Report is what Verify found.
type Report struct {
	OK bool
	// Links walked, records checked, checkpoints checked.
	Links, Checkpoints int64
	// Where the walk began: after a retention cut, its sequence number.
	StartSeq int64
	// The first broken sequence number, and what is wrong there.
	BrokenSeq int64
	Problem   string
	// Records older than the settle window that no link covers.
	Unchained int64
}

func (r *Report) fail(seq int64, format string, args ...any) {
	if r.OK {
		r.OK, r.BrokenSeq, r.Problem = false, seq, fmt.Sprintf(format, args...)
	}
}

// Verify walks the chain from the latest retention cut (or the beginning),
// recomputing every link from its record, and checks every checkpoint's
// signature and head. trusted, when set, is the only key checkpoints may be
// signed with. It stops at the first break.
func Verify(ctx context.Context, st *store.Store, trusted ed25519.PublicKey) (*Report, error) {
	rep := &Report{OK: true}
	cps, err := st.Checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	prev := Genesis
	for _, c := range cps {
		if c.Kind == "retention" {
			rep.StartSeq, prev = c.Seq, c.HeadHash
		}
	}
	bySeq := map[int64]store.Checkpoint{}
	for _, c := range cps {
		rep.Checkpoints++
		if !VerifyCheckpoint(c) {
			rep.fail(c.Seq, "checkpoint at sequence %d: signature does not verify", c.Seq)
		}
		if trusted != nil && !bytes.Equal(c.PublicKey, trusted) {
			rep.fail(c.Seq, "checkpoint at sequence %d: signed by a key other than the configured one", c.Seq)
		}
		if c.Seq >= rep.StartSeq {
			bySeq[c.Seq] = c
		}
	}
	if c, ok := bySeq[rep.StartSeq]; ok && rep.StartSeq > 0 {
		delete(bySeq, c.Seq) // the cut itself: its head is where we start
	}
	expect := rep.StartSeq + 1
	err = st.WalkChain(ctx, rep.StartSeq, func(l store.ChainLink, r *store.AuditRecord) error {
		if !rep.OK {
			return errStop
		}
		rep.Links++
		switch {
		case l.Seq != expect:
			rep.fail(expect, "sequence %d missing: the chain jumps from %d to %d (a link was deleted)", expect, expect-1, l.Seq)
		case r == nil:
			rep.fail(l.Seq, "record %d at sequence %d is missing (deleted)", l.RecordID, l.Seq)
		case r.TxID != l.TxID:
			rep.fail(l.Seq, "record %d at sequence %d was altered: its transaction id changed", l.RecordID, l.Seq)
		default:
			h := Link(prev, r)
			if !bytes.Equal(h, l.Hash) {
				rep.fail(l.Seq, "record %d at sequence %d does not match its hash (altered, or records reordered)", l.RecordID, l.Seq)
			}
			prev = l.Hash
		}
		if c, ok := bySeq[l.Seq]; ok {
			if !bytes.Equal(c.HeadHash, l.Hash) {
				rep.fail(l.Seq, "checkpoint at sequence %d does not match the chain", l.Seq)
			}
			delete(bySeq, l.Seq)
		}
		expect = l.Seq + 1
		return nil
	})
	if err != nil && err != errStop {
		return nil, err
	}
	for seq := range bySeq {
		if rep.OK {
			rep.fail(seq, "checkpoint at sequence %d lies beyond the end of the chain (%d): links were removed", seq, expect-1)
		}
	}
	if rep.OK {
		n, err := st.CountUnchainedSettled(ctx, time.Now().Add(-time.Minute))
		if err != nil {
			return nil, err
		}
		rep.Unchained = n
	}
	return rep, nil
}

type stopError struct{}

func (stopError) Error() string { return "stop" }

var errStop error = stopError{}

// String is the one-line verdict `sinergi audit verify` prints.
func (r *Report) String() string {
	if !r.OK {
		return fmt.Sprintf("BROKEN at sequence %d: %s", r.BrokenSeq, r.Problem)
	}
	s := fmt.Sprintf("OK: %d links verified from sequence %d, %d checkpoints", r.Links, r.StartSeq+1, r.Checkpoints)
	if r.Unchained > 0 {
		s += fmt.Sprintf("; %d records older than a minute are not yet chained", r.Unchained)
	}
	return s
}
