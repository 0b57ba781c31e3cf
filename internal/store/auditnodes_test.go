package store_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/store"
)

// TestAuditNodesMigrated: a log written when the tree kept every 8th level
// reads, after migration 00073, as one the integrator wrote keeping every
// 4th: the added levels (4 from the leaves, 12 from level 8) are exactly
// the perfect subtrees RFC 6962 gives, no more, and the log's root at any
// size reads as the leaves give it.
func TestAuditNodesMigrated(t *testing.T) {
	ctx := context.Background()
	url := unmigratedDB(t)
	if err := store.MigrateTo(ctx, url, 72); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	// 2 * 4096 + 300 leaves: two level-12 nodes, a partial third, and
	// leaves past the last whole level-4 node.
	const n = 2*4096 + 300 + 5
	f := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	tree := f.NewEmptyRange(0)
	type node struct {
		Level uint
		Index uint64
		Hash  []byte
	}
	var old, want []node
	leaves := make([][]any, n)
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		h := sha256.Sum256(fmt.Appendf(nil, "leaf %d", i))
		leaves[i] = []any{int64(i), int64(i + 1), at, h[:], []byte("mac")}
		if err := tree.Append(h[:], func(id compact.NodeID, h []byte) {
			switch {
			case id.Level > 0 && id.Level%8 == 0:
				old = append(old, node{id.Level, id.Index, h})
			case id.Level == 4 || id.Level == 12:
				want = append(want, node{id.Level, id.Index, h})
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"audit_leaves"}, []string{"leaf_index", "record_id", "record_at", "leaf_hash", "leaf_mac"},
		pgx.CopyFromRows(leaves)); err != nil {
		t.Fatal(err)
	}
	for _, o := range old {
		if _, err := conn.Exec(ctx, `INSERT INTO audit_nodes (level, idx, hash) VALUES ($1, $2, $3)`, int16(o.Level), int64(o.Index), o.Hash); err != nil {
			t.Fatal(err)
		}
	}
	if len(want) != n/16+2 || len(old) != n/256 {
		t.Fatalf("the fixture has %d new and %d old nodes", len(want), len(old))
	}

	if err := store.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT level, idx, hash FROM audit_nodes WHERE level % 8 <> 0 ORDER BY idx, level`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (node, error) {
		var l int16
		var i int64
		var h []byte
		err := r.Scan(&l, &i, &h)
		return node{uint(l), uint64(i), h}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	byPosition := func(ns []node) map[string][]byte {
		m := map[string][]byte{}
		for _, x := range ns {
			m[fmt.Sprintf("%d/%d", x.Level, x.Index)] = x.Hash
		}
		return m
	}
	if diff := cmp.Diff(byPosition(want), byPosition(got)); diff != "" {
		t.Errorf("nodes the migration added (-want +got):\n%s", diff)
	}

	for _, size := range []uint64{1, 15, 16, 17, 4095, 4096, 4097, n - 1, n} {
		r := f.NewEmptyRange(0)
		for i := range size {
			if err := r.Append(leaves[i][3].([]byte), nil); err != nil {
				t.Fatal(err)
			}
		}
		wantRoot, err := r.GetRootHash(nil)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := audit.StoredRange(ctx, conn, size)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		gotRoot, err := stored.GetRootHash(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !cmp.Equal(wantRoot, gotRoot) {
			t.Errorf("size %d: the stored log's root differs from its leaves'", size)
		}
	}
}
