package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"

	"github.com/sinergi-id/sinergi/internal/store"
)

// Report is what Verify found.
type Report struct {
	OK bool
	// Leaves walked, records checked against them, leaves whose records
	// retention dropped, checkpoints, cosignatures and witness states checked.
	Leaves, Records, Retained       int64
	Checkpoints, Cosignatures, Held int
	// FirstBad is the first leaf position found bad (-1 when none), and
	// Problem what is wrong there; Problems lists what was found, the
	// first few of each kind.
	FirstBad int64
	Problem  string
	Problems []string
	// Records that are on their way into the log (queued, younger than a
	// minute or the integrator is behind), and records from before the log.
	Queued, Legacy int64
	Elapsed        time.Duration
}

const maxProblems = 50

// fail records a problem at leaf position pos (-1: no position).
func (r *Report) fail(pos int64, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if r.OK || (pos >= 0 && (r.FirstBad < 0 || pos < r.FirstBad)) {
		r.FirstBad, r.Problem = pos, msg
	}
	r.OK = false
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, msg)
	}
}

// Verify checks the whole audit log in the database against what only
// the server's keys and the witnesses can vouch for:
//
//   - every leaf, in order, with no gap: its stored hash is its record's,
//     its record's MAC and its own MAC (over its position) are the
//     server's, its record is there unless retention dropped its month;
//   - every stored tree node is the one the leaves give;
//   - every checkpoint (the newest and those kept) is signed by the log
//     and states the root the leaves give at its size, and none states a
//     larger log than there is;
//   - every cosignature is by a registered witness, of a checkpoint the
//     log signed, with that root;
//   - every witness state given (a witness's own file, held outside the
//     database) states a size the log reaches, with the root the leaves
//     give, and a checkpoint of that size is still in the database;
//   - every record not in the log is on its way (queued), or from before
//     the log; one with a MAC that does not verify, or refused by the
//     integrator, was written outside the server's write path.
//
// A database owner without the keys can change nothing of this without
// Verify naming the first position it changed; with the signing key but
// not the witnesses' files, not without a witness state showing it.
//
// It reads the database in one snapshot, so it may run beside a serving
// log: what is appended while it runs is the next verify's.
func Verify(ctx context.Context, st *store.Store, keys *Keys, states []*WitnessState) (*Report, error) {
	var rep *Report
	err := st.InSnapshot(ctx, func(r store.Reader) error {
		var err error
		rep, err = verify(ctx, r, keys, states)
		return err
	})
	return rep, err
}

func verify(ctx context.Context, st store.Reader, keys *Keys, states []*WitnessState) (*Report, error) {
	start := time.Now()
	rep := &Report{OK: true, FirstBad: -1}
	logV := keys.Verifier()

	cps, err := st.LogCheckpoints(ctx)
	if err != nil {
		return nil, err
	}
	latest, err := st.LatestLogCheckpoint(ctx)
	hasLatest := err == nil
	if err != nil && err != store.ErrNotFound {
		return nil, err
	}
	// Roots to compare at each size, with who vouches for them.
	type claim struct {
		root []byte
		who  string
	}
	claims := map[uint64][]claim{}
	addClaim := func(size uint64, root []byte, who string) {
		claims[size] = append(claims[size], claim{root, who})
	}
	cpSizes := map[uint64]bool{}
	for _, c := range cps {
		rep.Checkpoints++
		parsed, _, err := OpenCheckpoint([]byte(c.Note), logV)
		switch {
		case err != nil:
			rep.fail(-1, "checkpoint of size %d: %v (forged or altered)", c.TreeSize, err)
			continue
		case parsed.Size != uint64(c.TreeSize) || !bytes.Equal(parsed.Root, c.RootHash):
			rep.fail(-1, "checkpoint of size %d: its row does not say what its signed note says", c.TreeSize)
		}
		cpSizes[parsed.Size] = true
		addClaim(parsed.Size, parsed.Root, fmt.Sprintf("the log's checkpoint of %s", c.At.UTC().Format(time.RFC3339)))
	}
	witnesses, err := st.Witnesses(ctx)
	if err != nil {
		return nil, err
	}
	wv := map[string]note.Verifier{}
	for _, w := range witnesses {
		if v, err := NewCosignatureVerifier(w.VKey); err == nil {
			wv[w.InstitutionCode] = v
		} else {
			rep.fail(-1, "witness %s: registered key does not parse: %v", w.InstitutionCode, err)
		}
	}
	cosigs, err := st.Cosignatures(ctx, -1)
	if err != nil {
		return nil, err
	}
	for _, c := range cosigs {
		rep.Cosignatures++
		v, ok := wv[c.WitnessCode]
		if !ok {
			rep.fail(-1, "cosignature of size %d by %s: not a registered witness", c.TreeSize, c.WitnessCode)
			continue
		}
		parsed, n, err := OpenCheckpoint([]byte(c.Note), logV, v)
		if err != nil {
			rep.fail(-1, "cosignature of size %d by %s: %v", c.TreeSize, c.WitnessCode, err)
			continue
		}
		if !signedBy(n, v) {
			rep.fail(-1, "cosignature of size %d by %s: the witness's signature is missing", c.TreeSize, c.WitnessCode)
			continue
		}
		addClaim(parsed.Size, parsed.Root, "witness "+c.WitnessCode+"'s cosignature in the database")
	}
	var held []uint64
	for _, ws := range states {
		rep.Held++
		parsed, err := ws.Checkpoint(logV)
		if err != nil {
			rep.fail(-1, "witness state of %s: %v", ws.Witness, err)
			continue
		}
		held = append(held, parsed.Size)
		addClaim(parsed.Size, parsed.Root, fmt.Sprintf("witness %s's own state (%s)", ws.Witness, ws.Updated.UTC().Format(time.RFC3339)))
		for _, h := range ws.History {
			if r, err := h.root(); err == nil {
				addClaim(h.TreeSize, r, fmt.Sprintf("witness %s's history", ws.Witness))
			}
		}
	}

	nodes, err := st.AllNodes(ctx)
	if err != nil {
		return nil, err
	}
	stored := map[compact.NodeID][]byte{}
	for _, n := range nodes {
		stored[compact.NewNodeID(uint(n.Level), uint64(n.Index))] = n.Hash
	}
	dropped, err := st.DroppedAuditMonths(ctx)
	if err != nil {
		return nil, err
	}

	rng := factory.NewEmptyRange(0)
	var sizes []uint64
	for s := range claims {
		sizes = append(sizes, s)
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i] < sizes[j] })
	check := func() {
		for len(sizes) > 0 && sizes[0] == rng.End() {
			root := emptyRoot()
			if rng.End() > 0 {
				root, _ = rng.GetRootHash(nil)
			}
			for _, c := range claims[sizes[0]] {
				if !bytes.Equal(c.root, root) {
					rep.fail(-1, "the log at size %d is not the one %s states: leaves before position %d were changed", sizes[0], c.who, sizes[0])
				}
			}
			sizes = sizes[1:]
		}
	}
	check()
	next := int64(0)
	err = st.WalkLeaves(ctx, 0, func(l store.Leaf, r *store.AuditRecord) error {
		for ; next < l.Index; next++ {
			rep.fail(next, "position %d: no leaf (deleted)", next)
		}
		next = l.Index + 1
		rep.Leaves++
		if !hmac.Equal(l.MAC, keys.LeafMAC(l.Index, l.Hash)) {
			rep.fail(l.Index, "position %d: the leaf's MAC does not verify (moved, or written without the server's key)", l.Index)
		}
		switch {
		case r != nil:
			rep.Records++
			if h := LeafHash(LeafBytes(r, true)); !bytes.Equal(h, l.Hash) {
				rep.fail(l.Index, "position %d: record %d does not hash to its leaf (altered, or records swapped)", l.Index, r.ID)
			}
			if !keys.Authentic(r) {
				rep.fail(l.Index, "position %d: record %d's MAC does not verify (altered or forged)", l.Index, r.ID)
			}
		case dropped[monthOf(l.RecordAt)]:
			rep.Retained++
		default:
			rep.fail(l.Index, "position %d: record %d is missing (deleted)", l.Index, l.RecordID)
		}
		visit := func(id compact.NodeID, h []byte) {
			if !StoredLevel(id.Level) {
				return
			}
			s, ok := stored[id]
			switch {
			case !ok:
				rep.fail(-1, "tree node %d at level %d is missing", id.Index, id.Level)
			case !bytes.Equal(s, h):
				// A leaf found bad under the node already says why it
				// differs, at the leaf's own position.
				if lo, _ := id.Coverage(); rep.FirstBad < int64(lo) {
					rep.fail(int64(lo), "tree node %d at level %d is not the one its leaves give (from position %d): rebuilt or altered", id.Index, id.Level, lo)
				}
			}
			delete(stored, id)
		}
		if err := rng.Append(l.Hash, visit); err != nil {
			return err
		}
		check()
		return nil
	})
	if err != nil {
		return nil, err
	}
	size := rng.End()
	for id := range stored {
		rep.fail(-1, "tree node %d at level %d lies beyond the log's %d leaves", id.Index, id.Level, size)
	}
	for _, s := range sizes {
		for _, c := range claims[s] {
			rep.fail(int64(size), "%s states a log of %d leaves but the database has %d: leaves from position %d were removed", c.who, s, size, size)
		}
	}
	switch {
	case hasLatest && uint64(latest.TreeSize) < size:
		rep.fail(latest.TreeSize, "the log has %d leaves but its newest checkpoint states %d: leaves from position %d were added outside the integrator", size, latest.TreeSize, latest.TreeSize)
	case !hasLatest && size > 0:
		rep.fail(-1, "the log has %d leaves and no checkpoint: its checkpoints were deleted", size)
	}
	for _, h := range held {
		if h > 0 && !hasCheckpointAtOrAbove(cpSizes, h) {
			rep.fail(int64(h), "a witness holds the checkpoint of size %d but the database has no checkpoint that large: checkpoints were deleted", h)
		}
	}

	u, err := st.UnintegratedAudit(ctx, time.Now().Add(-time.Minute), 1000)
	if err != nil {
		return nil, err
	}
	for _, r := range u.Pending {
		switch {
		case !keys.Authentic(r.AuditRecord):
			rep.fail(-1, "record %d (%s): not in the log and its MAC does not verify: written outside the server's write path", r.ID, r.At.UTC().Format(time.RFC3339))
		case !r.Queued:
			rep.fail(-1, "record %d (%s): not in the log, and no longer queued for it", r.ID, r.At.UTC().Format(time.RFC3339))
		default:
			rep.Queued++
		}
	}
	for _, x := range u.Rejected {
		rep.fail(-1, "record %d (%s) was refused by the integrator: %s", x.ID, x.At.UTC().Format(time.RFC3339), x.Reason)
	}
	rep.Legacy = u.LegacyRecords
	if u.NotLegacy > 0 || u.WithoutMAC > u.LegacyRecords {
		rep.fail(-1, "%d records without a MAC besides the %d from before the log: written outside the server's write path", u.WithoutMAC-u.LegacyRecords+u.NotLegacy, u.LegacyRecords)
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

func signedBy(n *note.Note, v note.Verifier) bool {
	for _, s := range n.Sigs {
		if s.Name == v.Name() && s.Hash == v.KeyHash() {
			return true
		}
	}
	return false
}

func hasCheckpointAtOrAbove(sizes map[uint64]bool, n uint64) bool {
	for s := range sizes {
		if s >= n {
			return true
		}
	}
	return false
}

func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// String is what `sinergi audit verify` prints.
func (r *Report) String() string {
	var b strings.Builder
	if r.OK {
		fmt.Fprintf(&b, "OK: %d leaves verified (%d records, %d dropped by retention), %d checkpoints, %d cosignatures, %d witness states",
			r.Leaves, r.Records, r.Retained, r.Checkpoints, r.Cosignatures, r.Held)
	} else {
		if r.FirstBad >= 0 {
			fmt.Fprintf(&b, "BROKEN at position %d: %s", r.FirstBad, strings.TrimPrefix(r.Problem, fmt.Sprintf("position %d: ", r.FirstBad)))
		} else {
			fmt.Fprintf(&b, "BROKEN: %s", r.Problem)
		}
		for _, p := range r.Problems {
			if p != r.Problem {
				b.WriteString("\n  also: " + p)
			}
		}
	}
	if r.Queued > 0 {
		fmt.Fprintf(&b, "\n%d records older than a minute are still queued for the log (is the integrator running?)", r.Queued)
	}
	if r.Legacy > 0 {
		fmt.Fprintf(&b, "\n%d records from before the log (migration 00008) are outside it", r.Legacy)
	}
	return b.String()
}
