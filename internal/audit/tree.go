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
// storedEvery-th level (8, 16, 24, ...); any other node of the tree is
// the root of at most 2^(storedEvery-1) stored hashes, computed when a
// proof needs it. An inclusion proof at 10 million leaves reads three runs
// of at most 256 hashes, in one statement.
const storedEvery = 8

var factory = &compact.RangeFactory{Hash: nodeHash}

// treeReader reads node hashes of the log from storage.
type treeReader struct {
	db store.DB
}

// hashes returns the hash of each node of ids, all perfect subtrees of
// the log as stored.
func (t treeReader) hashes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	// Each node is the root of a run of hashes at the stored level at or
	// below it. Runs at one level are read merged.
	type run struct {
		base     uint
		from, to uint64
	}
	runs := make([]run, len(ids))
	byLevel := map[uint][]run{}
	for i, id := range ids {
		base := id.Level - id.Level%storedEvery
		shift := id.Level - base
		runs[i] = run{base: base, from: id.Index << shift, to: (id.Index + 1) << shift}
		byLevel[base] = append(byLevel[base], runs[i])
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
