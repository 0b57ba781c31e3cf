package audit

import (
	"math/rand/v2"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
)

// TestProofBlocksCoverProofs: the blocks store.ReadForProof reads around a
// proof's points (the leaf and the last leaf for an inclusion proof, the
// first tree's last leaf and the second's for a consistency proof) hold
// every stored hash the proof is computed from, at any size: a proof goes
// to storage once, not twice.
func TestProofBlocksCoverProofs(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 17))
	covered := func(points []uint64, n uint64, ids []compact.NodeID) bool {
		for _, id := range ids {
			base := id.Level - id.Level%storedEvery
			shift := id.Level - base
			for j := id.Index << shift; j < (id.Index+1)<<shift; j++ {
				in := false
				for _, p := range points {
					if p < n && (p>>base)>>storedEvery == j>>storedEvery && j < n>>base {
						in = true
					}
				}
				if !in {
					return false
				}
			}
		}
		return true
	}
	sizes := []uint64{1, 2, 15, 16, 17, 255, 256, 257, 4095, 4096, 4097, 65535, 65536, 65537, 200001, 20_000_000}
	for range 3000 {
		sizes = append(sizes, 1+rng.Uint64N(1<<34))
	}
	for _, n := range sizes {
		for _, i := range []uint64{0, n - 1, n / 2, rng.Uint64N(n), rng.Uint64N(n)} {
			nodes, err := proof.Inclusion(i, n)
			if err != nil {
				t.Fatal(err)
			}
			if !covered([]uint64{i, n - 1}, n, nodes.IDs) {
				t.Fatalf("inclusion of %d in %d: a node lies outside the blocks read", i, n)
			}
			m := i + 1
			nodes, err = proof.Consistency(m, n)
			if err != nil {
				t.Fatal(err)
			}
			if !covered([]uint64{m - 1, n - 1}, n, nodes.IDs) {
				t.Fatalf("consistency of %d with %d: a node lies outside the blocks read", m, n)
			}
		}
	}
}
