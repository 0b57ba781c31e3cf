package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/devenv"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// scrape reads the server's Prometheus text: every sample, by its series.
func (e *Env) scrape(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.MetricsAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// histogramQuantile is the q-quantile of a histogram's observations
// between two scrapes, linearly interpolated within its bucket.
func histogramQuantile(before, after map[string]float64, name string, q float64) (float64, float64) {
	type bucket struct{ le, n float64 }
	var bs []bucket
	prefix := name + `_bucket{le="`
	for k, v := range after {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(k, prefix), `"}`), 64)
		if err != nil {
			continue // +Inf
		}
		bs = append(bs, bucket{le, v - before[k]})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	total := after[name+"_count"] - before[name+"_count"]
	if total == 0 || len(bs) == 0 {
		return 0, 0
	}
	rank, lo, prevN := q*total, 0.0, 0.0
	for _, b := range bs {
		if b.n >= rank {
			return lo + (b.le-lo)*(rank-prevN)/max(b.n-prevN, 1), total
		}
		lo, prevN = b.le, b.n
	}
	return bs[len(bs)-1].le, total // beyond the largest finite bucket
}

// walLSN is the database server's current WAL position, in bytes.
func (e *Env) walLSN(ctx context.Context) (int64, error) {
	var n int64
	err := e.Store.Pool.QueryRow(ctx, `SELECT pg_current_wal_lsn() - '0/0'::pg_lsn`).Scan(&n)
	return n, err
}

// logRecords is how many records AuditLogProofs generates for the proofs.
func logRecords() int {
	if v, err := strconv.Atoi(os.Getenv("BENCH_LOG_RECORDS")); err == nil && v > 0 {
		return v
	}
	return 10_000_000
}

// AuditLogProofs measures inclusion and consistency proofs on a log of at
// least 10 million records: it generates them straight into a database of
// their own (sinergi_bench_log), as the server would have written and
// integrated them (real records with the server's MACs, their leaves,
// the tree's stored nodes, a checkpoint the log's key signed), starts a
// second server on it, and asks it for proofs through the generated
// client, checking each as an auditor would.
func AuditLogProofs(ctx context.Context, e *Env, r *Results, binary string, d time.Duration) error {
	n := logRecords()
	const name = "sinergi_bench_log"
	// The floors' 64 connections are idle now; the second server needs room.
	e.Store.Pool.Reset()
	admin, err := pgx.Connect(ctx, e.ServerURL)
	if err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		admin.Close(ctx)
		return err
	}
	admin.Close(ctx)
	defer func() {
		if conn, err := pgx.Connect(context.WithoutCancel(ctx), e.ServerURL); err == nil {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			conn.Close(context.WithoutCancel(ctx))
		}
	}()
	db, err := devenv.SetUp(ctx, e.ServerURL, name)
	if err != nil {
		return err
	}
	if err := store.Migrate(ctx, db.Owner); err != nil {
		return err
	}
	if _, err := devenv.SeedDemo(ctx, db.App, e.Keys, devenv.DevOperator); err != nil {
		return err
	}
	t0 := time.Now()
	ids, size, err := generateLog(ctx, db.Admin, e.Keys, n)
	if err != nil {
		return fmt.Errorf("generate the log: %w", err)
	}
	fmt.Printf("  (generated %d audit records, their leaves and tree in %s)\n", size, time.Since(t0).Round(time.Second))

	second := &Env{StateDir: e.StateDir, DBName: name, PKIDir: e.PKIDir, AuditKey: e.AuditKey, Roles: db.Roles}
	if err := second.StartServer(ctx, binary); err != nil {
		return err
	}
	defer second.stopServer()
	conn := second.Conn("mabes-polri")
	defer conn.Close()
	c := sinergiv1.NewAuditServiceClient(conn)
	cp, err := c.GetCheckpoint(ctx, &sinergiv1.GetCheckpointRequest{})
	if err != nil {
		return err
	}
	v, err := note.NewVerifier(e.Keys.VerifierKey())
	if err != nil {
		return err
	}
	if _, err := note.Open([]byte(cp.GetCheckpoint().GetNote()), note.VerifierList(v)); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	root := cp.GetCheckpoint().GetRootHash()
	treeSize := uint64(cp.GetCheckpoint().GetTreeSize())
	oversight := &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_OVERSIGHT}
	var verified atomic.Int64
	incl := Run(ctx, 16, d, func(ctx context.Context, _ int, i int64) error {
		id := ids[int(uint64(i)*2654435761%uint64(len(ids)))]
		p, err := c.GetInclusionProof(ctx, &sinergiv1.GetInclusionProofRequest{Access: oversight, RecordId: id, TreeSize: int64(treeSize)})
		if err != nil {
			return err
		}
		// Check some as an auditor would (off the timed path would be
		// kinder; it is cheap). A record of the other side (a facility's
		// call, asked by Mabes) comes without its leaf: only the caller's
		// side's are checked.
		if i%64 == 0 && len(p.GetLeaf()) > 0 {
			verified.Add(1)
			return proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(p.GetLeafIndex()), treeSize, audit.LeafHash(p.GetLeaf()), p.GetHashes(), root)
		}
		return nil
	})
	if incl.FirstErr != nil {
		return fmt.Errorf("inclusion proofs: %w", incl.FirstErr)
	}
	if verified.Load() == 0 {
		return errors.New("inclusion proofs: none came with its leaf to check")
	}
	cons := Run(ctx, 16, d, func(ctx context.Context, _ int, i int64) error {
		first := 1 + int64(uint64(i)*2654435761%(treeSize-1))
		_, err := c.GetConsistencyProof(ctx, &sinergiv1.GetConsistencyProofRequest{FirstTreeSize: first, SecondTreeSize: int64(treeSize)})
		return err
	})
	if cons.FirstErr != nil {
		return fmt.Errorf("consistency proofs: %w", cons.FirstErr)
	}
	what := fmt.Sprintf("at %d records, concurrency 16", treeSize)
	r.Add(Figure{Key: "audit_inclusion_proof_c16_rps", What: "GetInclusionProof " + what, Value: incl.Rate(), Unit: "/s"})
	r.Add(Figure{Key: "audit_inclusion_proof_c16_p99_ms", Value: incl.Percentile(99), Op: "<=", Target: 10, Unit: "ms"})
	r.Add(Figure{Key: "audit_consistency_proof_c16_rps", What: "GetConsistencyProof " + what, Value: cons.Rate(), Unit: "/s"})
	r.Add(Figure{Key: "audit_consistency_proof_c16_p99_ms", Value: cons.Percentile(99), Op: "<=", Target: 10, Unit: "ms"})
	r.Add(Figure{Key: "audit_log_generated_records", What: "records generated into the proofs' log", Value: float64(treeSize), Unit: ""})
	return nil
}

// generateLog writes n audit records straight into the database at url,
// with the server's MACs, and their log (leaves, stored nodes and a
// signed checkpoint), as the integrator would have made it; the records
// are spread over the last three weeks. It returns the ids of a sample of
// the records (to ask proofs of) and the log's size.
func generateLog(ctx context.Context, url string, keys *audit.Keys, n int) ([]int64, uint64, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, 0, err
	}
	defer conn.Close(ctx)
	rng := rand.New(rand.NewPCG(14, 22))
	start := time.Now().Add(-21 * 24 * time.Hour).Truncate(time.Microsecond)
	step := 21 * 24 * time.Hour / time.Duration(n)
	methods := []string{sinergiv1.CustodyService_GetCustodyRecord_FullMethodName, sinergiv1.CustodyService_CheckPresence_FullMethodName,
		sinergiv1.InstitutionService_GetInstitution_FullMethodName, sinergiv1.ReportService_SubmitReport_FullMethodName}
	callers := []string{"polres-metro", "polres-cilacap", "polda-lampung", "mabes-polri", "lapas-metro", "lapas-cipinang"}
	record := func(i int) *store.AuditRecord {
		r := &store.AuditRecord{ID: int64(i + 1), At: start.Add(time.Duration(i) * step), RequestID: fmt.Sprintf("%024x", uint64(i)*2654435761),
			CallerCode: callers[i%len(callers)], CertificateSerial: fmt.Sprintf("%x", 1000+i%len(callers)), OperatorID: "85051234",
			Method: methods[i%len(methods)], Purpose: "CRIMINAL_INVESTIGATION", CaseReference: "LP/B/123/VIII/2026/BARESKRIM",
			Decision: "ALLOWED", Reason: "policy allows; data limited to reach for DETAINEE_DATA",
			AgreementIDs: []string{"pks-2025-kemenimipas-polri-data"}, StatusCode: "OK",
			Subjects: []string{fmt.Sprintf("custody/%08x-0000-4000-8000-%012x", i%300000, rng.Uint64()&0xffffffffffff)}, LatencyMicros: 900}
		r.MAC = keys.RecordMAC(audit.LeafBytes(r, false))
		return r
	}
	hashes := make([][32]byte, n)
	var sample []int64
	cols := []string{"id", "at", "request_id", "caller_code", "certificate_serial", "operator_id", "method", "purpose", "case_reference",
		"decision", "reason", "agreement_ids", "status_code", "subjects", "latency_us", "mac"}
	i := 0
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"audit_records"}, cols, pgx.CopyFromFunc(func() ([]any, error) {
		if i == n {
			return nil, nil
		}
		r := record(i)
		copy(hashes[i][:], audit.LeafHash(audit.LeafBytes(r, true)))
		if i%97 == 0 {
			sample = append(sample, r.ID)
		}
		i++
		return []any{r.ID, r.At, r.RequestID, r.CallerCode, r.CertificateSerial, r.OperatorID, r.Method, r.Purpose, r.CaseReference,
			r.Decision, r.Reason, r.AgreementIDs, r.StatusCode, r.Subjects, r.LatencyMicros, r.MAC}, nil
	})); err != nil {
		return nil, 0, fmt.Errorf("records: %w", err)
	}
	tree := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	var nodes []store.Node
	visit := func(id compact.NodeID, h []byte) {
		if audit.StoredLevel(id.Level) {
			nodes = append(nodes, store.Node{Level: int(id.Level), Index: int64(id.Index), Hash: h})
		}
	}
	j := 0
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"audit_leaves"}, []string{"leaf_index", "record_id", "record_at", "leaf_hash", "leaf_mac"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if j == n {
				return nil, nil
			}
			h := hashes[j][:]
			if err := tree.Append(h, visit); err != nil {
				return nil, err
			}
			row := []any{int64(j), int64(j + 1), start.Add(time.Duration(j) * step), h, keys.LeafMAC(int64(j), h)}
			j++
			return row, nil
		})); err != nil {
		return nil, 0, fmt.Errorf("leaves: %w", err)
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"audit_nodes"}, []string{"level", "idx", "hash"}, pgx.CopyFromSlice(len(nodes), func(k int) ([]any, error) {
		return []any{int16(nodes[k].Level), nodes[k].Index, nodes[k].Hash}, nil
	})); err != nil {
		return nil, 0, fmt.Errorf("nodes: %w", err)
	}
	root, err := tree.GetRootHash(nil)
	if err != nil {
		return nil, 0, err
	}
	signed, err := keys.SignCheckpoint(tree.End(), root)
	if err != nil {
		return nil, 0, err
	}
	if _, err := conn.Exec(ctx, `INSERT INTO audit_log_latest (tree_size, root_hash, at, note) VALUES ($1, $2, now(), $3)`, int64(tree.End()), root, signed); err != nil {
		return nil, 0, err
	}
	if _, err := conn.Exec(ctx, `SELECT setval('audit_records_id_seq', $1)`, int64(n+1)); err != nil {
		return nil, 0, err
	}
	if _, err := conn.Exec(ctx, `ANALYZE audit_records; ANALYZE audit_leaves; ANALYZE audit_nodes; CHECKPOINT`); err != nil {
		return nil, 0, err
	}
	return sample, tree.End(), nil
}

// stopServer stops the server StartServer started.
func (e *Env) stopServer() {
	if e.cmd != nil && e.cmd.Process != nil {
		_ = e.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = e.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = e.cmd.Process.Kill()
		}
	}
	if e.log != nil {
		e.log.Close()
	}
}
