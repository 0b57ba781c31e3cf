package audit

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"github.com/sinergi-id/sinergi/internal/store"
)

// The log stores the leaf hashes and the perfect subtrees at every
// storedEvery-th level (4, 8, 12, ...: one node for 16 leaves, 1/15 of the
// leaves' rows in all); any other node of the tree is the root of at most
// 2^(storedEvery-1) stored hashes, computed when a proof needs it. A
// proof at 20 million leaves is computed from seven runs of at most 15
// hashes, read with its record in one round trip (store.ReadForProof).
// (Until migration 00073 the log kept every 8th level: proofs read runs of
// 255 hashes and hashed as many, most of a proof's cost.)
const storedEvery = 4

// StoredLevel reports whether the log stores the nodes of level (leaves
// apart): what a generator of a log must write for it to read as the
// integrator's.
func StoredLevel(level uint) bool { return level > 0 && level%storedEvery == 0 }

// StoredRange is the compact range [0, size) of the log in db as stored.
func StoredRange(ctx context.Context, db store.DB, size uint64) (*compact.Range, error) {
	return treeReader{db: db}.rangeAt(ctx, size)
}

var factory = &compact.RangeFactory{Hash: nodeHash}

// treeReader reads node hashes of the log from storage.
type treeReader struct {
	db store.DB
	// near are hashes read already (store.ReadForProof): when they hold
	// every hash a read needs, it does not go to storage.
	near map[store.NodeKey][]byte
}

// hashes returns the hash of each node of ids, all perfect subtrees of
// the log as stored.
func (t treeReader) hashes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	// Each node is the root of a run of hashes at the stored level at or
	// below it. Runs at one level are read merged.
	runs := make([]run, len(ids))
	byLevel := map[uint][]run{}
	for i, id := range ids {
		base := id.Level - id.Level%storedEvery
		shift := id.Level - base
		runs[i] = run{base: base, from: id.Index << shift, to: (id.Index + 1) << shift}
		byLevel[base] = append(byLevel[base], runs[i])
	}
	if out, ok := t.fromNear(runs); ok {
		return out, nil
	}
	var ranges []store.HashRange
	for base, rs := range byLevel {
		sort.Slice(rs, func(i, j int) bool { return rs[i].from < rs[j].from })
		cur := rs[0]
		for _, r := range rs[1:] {
			if r.from <= cur.to {
				cur.to = max(cur.to, r.to)
				continue
			}
			ranges = append(ranges, store.HashRange{Level: int(base), From: int64(cur.from), To: int64(cur.to)})
			cur = r
		}
		ranges = append(ranges, store.HashRange{Level: int(base), From: int64(cur.from), To: int64(cur.to)})
	}
	got, err := store.TreeHashes(ctx, t.db, ranges)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(ids))
	for i, r := range runs {
		var run [][]byte
		for j, hr := range ranges {
			if hr.Level == int(r.base) && uint64(hr.From) <= r.from && r.to <= uint64(hr.To) {
				lo, hi := r.from-uint64(hr.From), r.to-uint64(hr.From)
				if hi > uint64(len(got[j])) {
					return nil, fmt.Errorf("audit log: node %d at level %d is not stored", ids[i].Index, ids[i].Level)
				}
				run = got[j][lo:hi]
				break
			}
		}
		if out[i], err = perfectRoot(run); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// run is the stored hashes a node is computed from: [from, to) at level
// base.
type run struct {
	base     uint
	from, to uint64
}

// fromNear is the root of each run when the hashes read already hold them
// all.
func (t treeReader) fromNear(runs []run) ([][]byte, bool) {
	if len(t.near) == 0 {
		return nil, false
	}
	out := make([][]byte, len(runs))
	for i, r := range runs {
		hs := make([][]byte, 0, r.to-r.from)
		for j := r.from; j < r.to; j++ {
			h, ok := t.near[store.NodeKey{Level: int(r.base), Index: int64(j)}]
			if !ok {
				return nil, false
			}
			hs = append(hs, h)
		}
		root, err := perfectRoot(hs)
		if err != nil {
			return nil, false
		}
		out[i] = root
	}
	return out, true
}

// perfectRoot is the root of a perfect subtree over hashes (a power of two
// of them).
func perfectRoot(hashes [][]byte) ([]byte, error) {
	if n := len(hashes); n == 0 || n&(n-1) != 0 {
		return nil, fmt.Errorf("audit log: %d hashes are not a perfect subtree", n)
	}
	r := factory.NewEmptyRange(0)
	for _, h := range hashes {
		if err := r.Append(h, nil); err != nil {
			return nil, err
		}
	}
	return r.GetRootHash(nil)
}

// rangeAt is the compact range [0, size) of the log as stored.
func (t treeReader) rangeAt(ctx context.Context, size uint64) (*compact.Range, error) {
	ids := compact.RangeNodes(0, size, nil)
	hashes, err := t.hashes(ctx, ids)
	if err != nil {
		return nil, err
	}
	return factory.NewRange(0, size, hashes)
}

// root is the log's root hash at size, as stored.
func (t treeReader) root(ctx context.Context, size uint64) ([]byte, error) {
	if size == 0 {
		return emptyRoot(), nil
	}
	r, err := t.rangeAt(ctx, size)
	if err != nil {
		return nil, err
	}
	return r.GetRootHash(nil)
}

// inclusion proves that leaf index is in the tree of size.
func (t treeReader) inclusion(ctx context.Context, index, size uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return t.rehash(ctx, nodes)
}

// consistency proves that the tree of size1 is a prefix of that of size2.
func (t treeReader) consistency(ctx context.Context, size1, size2 uint64) ([][]byte, error) {
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	return t.rehash(ctx, nodes)
}

func (t treeReader) rehash(ctx context.Context, nodes proof.Nodes) ([][]byte, error) {
	if len(nodes.IDs) == 0 {
		return [][]byte{}, nil
	}
	hashes, err := t.hashes(ctx, nodes.IDs)
	if err != nil {
		return nil, err
	}
	return nodes.Rehash(hashes, nodeHash)
}

// ErrBeyondLog is a proof asked of a size the log has not reached.
var ErrBeyondLog = errors.New("the log is not that large yet")
