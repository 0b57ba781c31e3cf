package audit_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/servertest"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// tamperable is a log of n calls and more, cosigned by a witness whose
// state file holds a checkpoint of at least the n calls, with the server
// stopped: what a database superuser finds.
type tamperable struct {
	env   *servertest.Env
	state *audit.WitnessState
	keys  *audit.Keys
	// size is the log's size in the database (the witness's round itself
	// made a few more records after its checkpoint).
	size int64
}

func newTamperable(t *testing.T, n int) *tamperable {
	t.Helper()
	env := servertest.Start(t, freshDB(t), servertest.Options{})
	ctx := context.Background()
	w := registerWitness(t, env, "mabes-polri")
	c := env.As(t, "polda-lampung")
	for i := range n {
		if _, err := c.Institutions.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: fmt.Sprintf("x%d", i)}); err == nil {
			t.Fatal("an unknown institution was found")
		}
		if i == n/2 {
			env.WaitIntegrated(t)
			if _, err := w.Round(ctx); err != nil { // an earlier checkpoint in the witness's history
				t.Fatal(err)
			}
		}
	}
	env.WaitIntegrated(t)
	if _, err := w.Round(ctx); err != nil {
		t.Fatal(err)
	}
	env.Server.Stop() // no integrator racing the tampering
	st, err := audit.LoadWitnessState(w.State)
	if err != nil {
		t.Fatal(err)
	}
	size, err := store.LogSize(ctx, env.Owner.Pool)
	if err != nil {
		t.Fatal(err)
	}
	tp := &tamperable{env: env, state: st, keys: env.Keys(t), size: size}
	if rep := tp.verify(t, true); !rep.OK || rep.Leaves != size || int64(st.TreeSize) > size || st.TreeSize < uint64(n) {
		t.Fatalf("before tampering: %s (the witness holds %d leaves)", rep, st.TreeSize)
	}
	return tp
}

// superuser runs statements as the database's superuser, with triggers off.
func (tp *tamperable) superuser(t *testing.T, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	tx, err := tp.env.Owner.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func (tp *tamperable) verify(t *testing.T, withWitness bool) *audit.Report {
	t.Helper()
	var states []*audit.WitnessState
	if withWitness {
		states = []*audit.WitnessState{tp.state}
	}
	rep, err := audit.Verify(context.Background(), tp.env.Owner, tp.keys, states)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func (tp *tamperable) leaf(t *testing.T, pos int64) (id int64, at time.Time) {
	t.Helper()
	if err := tp.env.Owner.Pool.QueryRow(context.Background(), `SELECT record_id, record_at FROM audit_leaves WHERE leaf_index = $1`, pos).Scan(&id, &at); err != nil {
		t.Fatal(err)
	}
	return id, at
}

func (tp *tamperable) wantBroken(t *testing.T, rep *audit.Report, pos int64, says string) {
	t.Helper()
	if rep.OK || rep.FirstBad != pos || !strings.Contains(rep.Problem, says) {
		t.Fatalf("verify = %s\nwant broken at position %d: %q", rep, pos, says)
	}
}

// The database superuser, without the witness's key, changes the log in
// each way it can; verify, with the witness's state, names the first
// position it changed.
func TestSuperuserUpdatesARecord(t *testing.T) {
	tp := newTamperable(t, 40)
	id, _ := tp.leaf(t, 13)
	tp.superuser(t, fmt.Sprintf(`UPDATE audit_records SET caller_code = 'mabes-polri' WHERE id = %d`, id))
	tp.wantBroken(t, tp.verify(t, true), 13, "does not hash to its leaf")
}

func TestSuperuserDeletesAMiddleRecord(t *testing.T) {
	tp := newTamperable(t, 40)
	id, _ := tp.leaf(t, 21)
	tp.superuser(t, fmt.Sprintf(`DELETE FROM audit_records WHERE id = %d`, id))
	tp.wantBroken(t, tp.verify(t, true), 21, "is missing (deleted)")
}

func TestSuperuserDeletesALeaf(t *testing.T) {
	tp := newTamperable(t, 40)
	tp.superuser(t, `DELETE FROM audit_leaves WHERE leaf_index = 8`)
	tp.wantBroken(t, tp.verify(t, true), 8, "no leaf (deleted)")
}

func TestSuperuserSwapsTwoRecords(t *testing.T) {
	tp := newTamperable(t, 40)
	a, aAt := tp.leaf(t, 5)
	b, bAt := tp.leaf(t, 6)
	tp.superuser(t,
		fmt.Sprintf(`UPDATE audit_leaves SET record_id = %d, record_at = '%s' WHERE leaf_index = 5`, b, bAt.Format(time.RFC3339Nano)),
		fmt.Sprintf(`UPDATE audit_leaves SET record_id = %d, record_at = '%s' WHERE leaf_index = 6`, a, aAt.Format(time.RFC3339Nano)))
	tp.wantBroken(t, tp.verify(t, true), 5, "does not hash to its leaf")
}

// TestSuperuserSwapsTwoLeaves: moving whole leaves (hash and all) keeps
// each record with its hash, but not with its position.
func TestSuperuserSwapsTwoLeaves(t *testing.T) {
	tp := newTamperable(t, 40)
	tp.superuser(t,
		`UPDATE audit_leaves SET leaf_index = -1 WHERE leaf_index = 9`,
		`UPDATE audit_leaves SET leaf_index = 9 WHERE leaf_index = 10`,
		`UPDATE audit_leaves SET leaf_index = 10 WHERE leaf_index = -1`)
	tp.wantBroken(t, tp.verify(t, true), 9, "leaf's MAC does not verify")
}

// TestSuperuserRewritesAndRehashes: a record rewritten, its leaf hash and
// the tree recomputed as anyone can: the MACs, which need the server's
// key, no longer verify.
func TestSuperuserRewritesAndRehashes(t *testing.T) {
	tp := newTamperable(t, 40)
	id, _ := tp.leaf(t, 17)
	tp.superuser(t, fmt.Sprintf(`UPDATE audit_records SET case_reference = 'LP/B/999/XII/2026' WHERE id = %d`, id))
	var r *store.AuditRecord
	if err := tp.env.Owner.Reader().WalkLeaves(context.Background(), 17, func(_ store.Leaf, rec *store.AuditRecord) error {
		if r == nil {
			r = rec
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	h := audit.LeafHash(audit.LeafBytes(r, true))
	tp.superuser(t, fmt.Sprintf(`UPDATE audit_leaves SET leaf_hash = '\x%x' WHERE leaf_index = 17`, h))
	tp.wantBroken(t, tp.verify(t, true), 17, "MAC does not verify")
}

// TestSuperuserAltersATreeNode: a stored node of the tree changed, its
// leaves left alone (what would make proofs against a forged root): verify
// names the node's first position.
func TestSuperuserAltersATreeNode(t *testing.T) {
	tp := newTamperable(t, 40)
	tp.superuser(t, `UPDATE audit_nodes SET hash = sha256(hash) WHERE level = 4 AND idx = 1`)
	tp.wantBroken(t, tp.verify(t, true), 16, "tree node 1 at level 4 is not the one its leaves give")
}

// TestSuperuserTruncatesTheTail: the newest records deleted with
// everything after them, and the newest checkpoint put back to one the
// log signed earlier: a consistent, smaller log. Only the witness's state
// shows it, naming the first missing position.
func TestSuperuserTruncatesTheTail(t *testing.T) {
	tp := newTamperable(t, 40)
	ctx := context.Background()
	var keep int64
	var note string
	if err := tp.env.Owner.Pool.QueryRow(ctx, `SELECT tree_size, note FROM audit_log_checkpoints WHERE tree_size < $1 ORDER BY tree_size DESC LIMIT 1`, tp.state.TreeSize).Scan(&keep, &note); err != nil {
		t.Fatalf("no earlier checkpoint kept: %v", err)
	}
	tp.superuser(t,
		fmt.Sprintf(`DELETE FROM audit_records r USING audit_leaves l WHERE l.record_id = r.id AND l.record_at = r.at AND l.leaf_index >= %d`, keep),
		fmt.Sprintf(`DELETE FROM audit_leaves WHERE leaf_index >= %d`, keep),
		fmt.Sprintf(`DELETE FROM audit_nodes WHERE (idx + 1) << level > %d`, keep),
		fmt.Sprintf(`DELETE FROM audit_log_checkpoints WHERE tree_size > %d`, keep),
		fmt.Sprintf(`DELETE FROM audit_cosignatures WHERE tree_size > %d`, keep),
		fmt.Sprintf(`UPDATE audit_log_latest SET tree_size = %d, root_hash = (SELECT root_hash FROM audit_log_checkpoints WHERE tree_size = %d), note = %s`,
			keep, keep, quote(note)))
	if rep := tp.verify(t, false); !rep.OK {
		t.Fatalf("without the witness the truncated log should look whole (that is why witnesses exist): %s", rep)
	}
	tp.wantBroken(t, tp.verify(t, true), keep, "were removed")
}

// TestSuperuserInsertsAForgedRecord: a record of a disclosure that never
// happened, with a leaf appended for it; and one left for the integrator.
func TestSuperuserInsertsAForgedRecord(t *testing.T) {
	tp := newTamperable(t, 40)
	now := time.Now().UTC().Format(time.RFC3339Nano)
	forged := &store.AuditRecord{ID: 1 << 40, RequestID: "forged", CallerCode: "polres-metro", Method: "/sinergi.v1.CustodyService/GetCustodyRecord",
		Decision: "ALLOWED", StatusCode: "OK", Subjects: []string{"custody/00000000-0000-4000-8000-000000000001"}}
	h := audit.LeafHash(audit.LeafBytes(forged, true))
	tp.superuser(t,
		fmt.Sprintf(`INSERT INTO audit_records (id, at, request_id, caller_code, method, decision, status_code, subjects, latency_us, mac)
			VALUES (%d, '%s', 'forged', 'polres-metro', '/sinergi.v1.CustodyService/GetCustodyRecord', 'ALLOWED', 'OK',
			ARRAY['custody/00000000-0000-4000-8000-000000000001'], 0, '\x%x')`, forged.ID, now, make([]byte, 32)),
		fmt.Sprintf(`INSERT INTO audit_leaves (leaf_index, record_id, record_at, leaf_hash, leaf_mac) VALUES (%d, %d, '%s', '\x%x', '\x%x')`,
			tp.size, forged.ID, now, h, make([]byte, 32)))
	tp.wantBroken(t, tp.verify(t, true), tp.size, "")
}

// TestSuperuserDeletesEveryCheckpoint: with no checkpoint left, the log
// is not vouched for; the witness names the size it holds.
func TestSuperuserDeletesEveryCheckpoint(t *testing.T) {
	tp := newTamperable(t, 40)
	tp.superuser(t, `DELETE FROM audit_log_checkpoints`, `DELETE FROM audit_log_latest`, `DELETE FROM audit_cosignatures`)
	rep := tp.verify(t, true)
	tp.wantBroken(t, rep, int64(tp.state.TreeSize), "checkpoints were deleted")
}

// TestAppCredentialsForgeNothing: whoever holds the server's database
// credentials writes a record through the server's own write path, with
// a MAC it cannot make, and a cosignature straight into its table: the
// integrator refuses the record, no listing shows it, and verify names
// both.
func TestAppCredentialsForgeNothing(t *testing.T) {
	d := freshDB(t)
	env := servertest.Start(t, d, servertest.Options{})
	ctx := context.Background()
	app, err := store.Open(ctx, d.App, store.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	first, err := app.ReserveAuditIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	subject := "custody/00000000-0000-4000-8000-0000000000aa"
	forged := &store.AuditRecord{ID: first, At: time.Now(), RequestID: "forged", CallerCode: "polres-metro",
		Method: "/sinergi.v1.CustodyService/GetCustodyRecord", Purpose: "CRIMINAL_INVESTIGATION", Decision: "ALLOWED", StatusCode: "OK",
		Subjects: []string{subject}, MAC: make([]byte, 32)}
	if err := app.AppendAuditBatch(ctx, []*store.AuditRecord{forged}); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Pool.Exec(ctx, `INSERT INTO audit_cosignatures (witness_code, tree_size, root_hash, note) VALUES ('mabes-polri', 1, '\x00', 'x')`); err != nil {
		t.Fatal(err)
	}
	env.WaitIntegrated(t)
	var rejected int
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_rejected WHERE record_id = $1`, first).Scan(&rejected); err != nil || rejected != 1 {
		t.Fatalf("the integrator did not refuse the forged record: %d %v", rejected, err)
	}
	var inLog int
	if err := env.Owner.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_leaves WHERE record_id = $1`, first).Scan(&inLog); err != nil || inLog != 0 {
		t.Fatalf("the forged record is in the log: %d %v", inLog, err)
	}
	acc, err := env.As(t, "mabes-polri").Audit.ListSubjectAccess(ctx, &sinergiv1.ListSubjectAccessRequest{Access: access, Subject: subject})
	if err != nil || len(acc.GetAccesses()) != 0 {
		t.Fatalf("subject access shows the forged disclosure: %v %v", acc, err)
	}
	rep, err := audit.Verify(ctx, env.Owner, env.Keys(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(rep.Problems, "\n")
	if rep.OK || !strings.Contains(all, fmt.Sprintf("record %d", first)) || !strings.Contains(all, "cosignature of size 1 by mabes-polri") {
		t.Fatalf("verify = %s\nwant it to name the forged record %d and the forged cosignature", rep, first)
	}
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
