package benchscale

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/compact"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Months is how many monthly partitions the trail spans: the server keeps
// two years (internal/server's default retention), the current month
// included.
const Months = 24

// Trail makes the audit trail straight into the tables, as the server
// and its integrator would have written it: records with the server's
// MACs in their monthly partitions, their leaves, the tree's stored nodes
// and a checkpoint signed with the log's key.
type Trail struct {
	Keys    *audit.Keys
	Seed    uint64
	Now     time.Time
	custody *Custody
	// Sample holds ids of generated records, to ask inclusion proofs of.
	Sample []int64
	added  int
	p      *pools
}

// callers: who calls, in order of how often (the demo directory's police
// units, which read custody data all day, then its facilities).
var callers = newNameList("polres-metro", "polres-cilacap", "polres-metro-jakarta-timur", "polda-metro-jaya", "polres-kutai-kartanegara",
	"polda-lampung", "polda-jawa-tengah", "polsek-nusakambangan", "polda-kalimantan-timur", "mabes-polri",
	"lapas-cipinang", "lapas-metro", "lapas-permisan", "lapas-tenggarong", "lpka-tenggarong", "lpp-tenggarong")

// monthStart is the first instant of the month k months before now's.
func monthStart(now time.Time, k int) time.Time {
	y, m, _ := now.UTC().Date()
	return time.Date(y, m-time.Month(k), 1, 0, 0, 0, 0, time.UTC)
}

// pools of the values records repeat, made once: formatting them for
// each of 20 000 000 records was most of the generator's time.
type pools struct {
	operators, cases, serials []string
	subjects                  []string // "custody/<id>" of every record
}

func (t *Trail) pools(custodyN int) *pools {
	if t.p == nil {
		t.p = &pools{}
		for k := range 4000 {
			t.p.operators = append(t.p.operators, fmt.Sprintf("%08d", 85000000+k))
		}
		for k := range 3600 {
			t.p.cases = append(t.p.cases, fmt.Sprintf("LP/B/%d/%s/2026/BARESKRIM", 1+k%900, []string{"I", "IV", "VIII", "XI"}[k/900]))
		}
		for k := range callers.names {
			t.p.serials = append(t.p.serials, fmt.Sprintf("%x", 0x1000+k))
		}
	}
	for k := len(t.p.subjects); k < custodyN; k++ {
		t.p.subjects = append(t.p.subjects, "custody/"+recordID(t.custody.seed, k))
	}
	return t.p
}

// record makes one audit record; custodyN is how many custody records
// there are to name as subjects.
func (t *Trail) record(rng *rand.Rand, p *pools, id int64, at time.Time, custodyN int) *store.AuditRecord {
	var req [24]byte
	const hexdigits = "0123456789abcdef"
	for k, v := 0, rng.Uint64(); k < 16; k, v = k+1, v>>4 {
		req[23-k] = hexdigits[v&15]
	}
	for k := range 8 {
		req[k] = '0'
	}
	caller := drawIndex(callers, rng)
	r := &store.AuditRecord{ID: id, At: at, RequestID: string(req[:]), CallerCode: callers.names[caller], CertificateSerial: p.serials[caller],
		OperatorID: p.operators[rng.IntN(len(p.operators))], Purpose: "CRIMINAL_INVESTIGATION", CaseReference: p.cases[rng.IntN(len(p.cases))],
		Decision: "ALLOWED", Reason: "policy allows; data limited to reach for DETAINEE_DATA",
		AgreementIDs: []string{"pks-2025-kemenimipas-polri-data"}, StatusCode: "OK", LatencyMicros: 400 + rng.Int64N(3000)}
	subject := func() string {
		if rng.IntN(10) < 7 {
			return p.subjects[heldEvery*rng.IntN((custodyN+heldEvery-1)/heldEvery)]
		}
		return p.subjects[rng.IntN(custodyN)]
	}
	switch x := rng.IntN(100); {
	case x < 55:
		r.Method, r.Subjects = sinergiv1.CustodyService_GetCustodyRecord_FullMethodName, []string{subject()}
	case x < 75:
		r.Method = sinergiv1.CustodyService_CheckPresence_FullMethodName
		if rng.IntN(3) > 0 {
			r.Subjects = []string{subject()}
		}
	case x < 85:
		r.Method = sinergiv1.CustodyService_SearchCustodyRecords_FullMethodName
		for range rng.IntN(6) {
			r.Subjects = append(r.Subjects, subject())
		}
	case x < 92:
		r.Method, r.Subjects = sinergiv1.CustodyService_RecordCustodyEvent_FullMethodName, []string{subject()}
	case x < 97:
		r.Method, r.Purpose, r.CaseReference = sinergiv1.InstitutionService_GetInstitution_FullMethodName, "", ""
		r.AgreementIDs = nil
	default:
		r.Method, r.Decision, r.StatusCode = sinergiv1.CustodyService_GetCustodyRecord_FullMethodName, "DENIED", "PERMISSION_DENIED"
		r.Reason, r.AgreementIDs = "no agreement covers the record's facility for DETAINEE_DATA", nil
	}
	if r.Subjects == nil {
		r.Subjects = []string{}
	}
	if r.AgreementIDs == nil {
		r.AgreementIDs = []string{}
	}
	r.MAC = t.Keys.RecordMAC(audit.LeafBytes(r, false))
	return r
}

// Add writes counts[m] more records into each of the Months partitions
// (m = 0 the oldest), naming custody records [0, custodyN) as subjects,
// and appends their leaves to the log after what it holds. The server
// must not be running: the log has one writer.
func (t *Trail) Add(ctx context.Context, url string, counts []int, custodyN int) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT sinergi_audit_ensure_partitions($1, $2)`, monthStart(t.Now, Months-1), Months+1); err != nil {
		return fmt.Errorf("partitions: %w", err)
	}
	var size int64
	if err := conn.QueryRow(ctx, `SELECT coalesce((SELECT tree_size FROM audit_log_latest), 0)`).Scan(&size); err != nil {
		return err
	}
	tree, err := audit.StoredRange(ctx, conn, uint64(size))
	if err != nil {
		return fmt.Errorf("the log as stored: %w", err)
	}
	// A block of ids of our own: the server takes its own in blocks of
	// 4096 from the same sequence, after the ones set aside here.
	firsts := make([]int, Months)
	total := 0
	for m, n := range counts {
		firsts[m] = total
		total += n
	}
	p := t.pools(custodyN)
	var base int64
	if err := conn.QueryRow(ctx, `SELECT nextval('audit_records_id_seq')`).Scan(&base); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `SELECT setval('audit_records_id_seq', $1)`, base+int64(total)+4096); err != nil {
		return err
	}
	hashes := make([][32]byte, total)
	ids := make([]int64, total)
	ats := make([]time.Time, total)
	var mu sync.Mutex
	if err := parallel(ctx, 2, func(gctx context.Context, w int) error {
		c, err := pgx.Connect(gctx, url)
		if err != nil {
			return err
		}
		defer c.Close(gctx)
		for m := w; m < Months; m += 2 {
			start := monthStart(t.Now, Months-1-m)
			end := monthStart(t.Now, Months-2-m)
			if limit := t.Now.Add(-10 * time.Minute); end.After(limit) {
				end = limit
			}
			span := end.Sub(start)
			rng := rand.New(rand.NewPCG(t.Seed+uint64(t.added), uint64(m)))
			first, perMonth := firsts[m], counts[m]
			var sample []int64
			k := 0
			cols := []string{"id", "at", "request_id", "caller_code", "certificate_serial", "operator_id", "method", "purpose", "case_reference",
				"decision", "reason", "agreement_ids", "status_code", "subjects", "latency_us", "mac"}
			if _, err := c.CopyFrom(gctx, pgx.Identifier{"audit_records"}, cols, pgx.CopyFromFunc(func() ([]any, error) {
				if k == perMonth {
					return nil, nil
				}
				j := first + k
				at := start.Add(time.Duration((float64(k) + rng.Float64()) / float64(perMonth) * float64(span))).Truncate(time.Microsecond)
				r := t.record(rng, p, base+int64(j), at, custodyN)
				copy(hashes[j][:], audit.LeafHash(audit.LeafBytes(r, true)))
				ids[j], ats[j] = r.ID, r.At
				if k%997 == 0 {
					sample = append(sample, r.ID)
				}
				k++
				return []any{r.ID, r.At, r.RequestID, r.CallerCode, r.CertificateSerial, r.OperatorID, r.Method, r.Purpose, r.CaseReference,
					r.Decision, r.Reason, r.AgreementIDs, r.StatusCode, r.Subjects, r.LatencyMicros, r.MAC}, nil
			})); err != nil {
				return fmt.Errorf("records of %s: %w", start.Format("2006-01"), err)
			}
			mu.Lock()
			t.Sample = append(t.Sample, sample...)
			mu.Unlock()
		}
		return nil
	}); err != nil {
		return err
	}
	t.added++

	// The tree, then the leaves in two halves at once.
	var nodes [][]any
	visit := func(id compact.NodeID, h []byte) {
		if audit.StoredLevel(id.Level) {
			nodes = append(nodes, []any{int16(id.Level), int64(id.Index), h})
		}
	}
	for j := range hashes {
		if err := tree.Append(hashes[j][:], visit); err != nil {
			return err
		}
	}
	if err := parallel(ctx, 2, func(gctx context.Context, half int) error {
		c, err := pgx.Connect(gctx, url)
		if err != nil {
			return err
		}
		defer c.Close(gctx)
		j, end := half*total/2, (half+1)*total/2
		_, err = c.CopyFrom(gctx, pgx.Identifier{"audit_leaves"}, []string{"leaf_index", "record_id", "record_at", "leaf_hash", "leaf_mac"},
			pgx.CopyFromFunc(func() ([]any, error) {
				if j == end {
					return nil, nil
				}
				idx := size + int64(j)
				row := []any{idx, ids[j], ats[j], hashes[j][:], t.Keys.LeafMAC(idx, hashes[j][:])}
				j++
				return row, nil
			}))
		return err
	}); err != nil {
		return fmt.Errorf("leaves: %w", err)
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"audit_nodes"}, []string{"level", "idx", "hash"}, pgx.CopyFromRows(nodes)); err != nil {
		return fmt.Errorf("nodes: %w", err)
	}
	root, err := tree.GetRootHash(nil)
	if err != nil {
		return err
	}
	signed, err := t.Keys.SignCheckpoint(tree.End(), root)
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `INSERT INTO audit_log_latest (tree_size, root_hash, at, note) VALUES ($1, $2, now(), $3)
		ON CONFLICT (one) DO UPDATE SET tree_size = EXCLUDED.tree_size, root_hash = EXCLUDED.root_hash, at = EXCLUDED.at, note = EXCLUDED.note`,
		int64(tree.End()), root, signed); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `INSERT INTO audit_log_checkpoints (tree_size, root_hash, at, note) VALUES ($1, $2, now(), $3)`,
		int64(tree.End()), root, signed); err != nil {
		return err
	}
	return nil
}

// parallel runs fn(ctx, 0..n-1) at once and returns the first error; the
// others' context is cancelled then.
func parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = fn(ctx, i); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return ctx.Err()
}
