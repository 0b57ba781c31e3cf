package benchscale

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/bench"
	"github.com/sinergi-id/sinergi/internal/names"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// A police analyst at Mabes, investigating: every custody call carries this.
var analyst = &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION, CaseReference: "LP/B/123/VIII/2026/BARESKRIM"}

// Mabes's oversight reading the trail.
var oversight = &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_OVERSIGHT}

// A facility officer filing reports.
var officer = &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION}

// measure is one stage's measurements.
type measure struct {
	e       *bench.Env
	r       *results
	cfg     Config
	stage   Stage
	c       *Custody
	t       *Trail
	records int
	values  map[string]float64
}

type namedStep struct {
	name string
	fn   func(ctx context.Context) error
}

func (m *measure) full() bool { return m.stage.Fraction == 1 }

// add records a figure of this stage: a target only at full size.
func (m *measure) add(key, what string, v float64, op string, target float64, unit string) {
	m.values[key] = v
	f := bench.Figure{Key: key + m.stage.Name, What: what, Value: v, Unit: unit}
	if m.full() {
		f.Op, f.Target = op, target
	}
	m.r.Add(f)
}

// load runs fn at concurrency c and records its rate and p99; at full
// size with cfg.Profile, a server CPU profile of the middle of the load.
func (m *measure) load(ctx context.Context, key, what string, c int, p99Target, rateTarget float64, fn func(ctx context.Context, w int, i int64) error) error {
	var wg sync.WaitGroup
	if m.full() && m.cfg.Profile {
		pctx, cancel := context.WithCancel(ctx)
		defer func() { cancel(); wg.Wait() }()
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-pctx.Done():
				return
			case <-time.After(m.cfg.Duration/5 + time.Second):
			}
			_ = m.e.Profile(pctx, max(m.cfg.Duration-2*time.Second, time.Second), profilePath(m.cfg, key))
		}()
	}
	l := bench.Run(ctx, c, m.cfg.Duration, fn)
	if l.FirstErr != nil {
		return l.FirstErr
	}
	rateOp := ""
	if rateTarget > 0 {
		rateOp = ">="
	}
	m.add(key+"_rps", what, l.Rate(), rateOp, rateTarget, "/s")
	m.add(key+"_p99_ms", "", l.Percentile(99), "<=", p99Target, "ms")
	return nil
}

func (m *measure) steps() []namedStep {
	mabes := m.e.Conn("mabes-polri")
	custody := sinergiv1.NewCustodyServiceClient(mabes)
	auditc := sinergiv1.NewAuditServiceClient(mabes)
	n := m.records
	heldN := (n + heldEvery - 1) / heldEvery
	anyID := func(i int64) string { return recordID(m.c.seed, int(mix(uint64(i))%uint64(n))) }
	heldIdx := func(i int64) int { return heldEvery * int(mix(uint64(i)^0xabc)%uint64(heldN)) }
	steps := []namedStep{
		{"get custody record", func(ctx context.Context) error {
			return m.load(ctx, "get_custody_record_c64", fmt.Sprintf("GetCustodyRecord at concurrency 64, %d records", n), 64, 20, 0,
				func(ctx context.Context, w int, i int64) error {
					_, err := custody.GetCustodyRecord(ctx, &sinergiv1.GetCustodyRecordRequest{Access: analyst, Id: anyID(i)})
					return err
				})
		}},
		{"check presence", func(ctx context.Context) error {
			niks := make([]string, 4096)
			for k := range niks {
				rec, _, _, _ := m.c.Record(int(mix(uint64(k)^0x77) % uint64(n)))
				niks[k] = rec.GetIdentity().GetNik()
			}
			return m.load(ctx, "check_presence_c64", "CheckPresence at concurrency 64 (NIKs of people held or once held)", 64, 20, 0,
				func(ctx context.Context, w int, i int64) error {
					_, err := custody.CheckPresence(ctx, &sinergiv1.CheckPresenceRequest{Access: analyst, Nik: niks[int(i)%len(niks)]})
					return err
				})
		}},
		{"search by name", func(ctx context.Context) error {
			queries := m.nameQueries(2048)
			return m.load(ctx, "search_by_name_c16", "fuzzy name search (as written, misspelled, the other spelling, an alias) at concurrency 16", 16, 50, 500,
				func(ctx context.Context, w int, i int64) error {
					_, err := custody.SearchCustodyRecords(ctx, &sinergiv1.SearchCustodyRecordsRequest{Access: analyst, Name: queries[int(i)%len(queries)], PageSize: 20})
					return err
				})
		}},
		{"list subject access", func(ctx context.Context) error {
			return m.load(ctx, "list_subject_access_c16", "ListSubjectAccess of one person held (a page of 20), concurrency 16", 16, 20, 0,
				func(ctx context.Context, w int, i int64) error {
					_, err := auditc.ListSubjectAccess(ctx, &sinergiv1.ListSubjectAccessRequest{Access: oversight,
						Subject: "custody/" + recordID(m.c.seed, heldIdx(i)), PageSize: 20})
					return err
				})
		}},
		{"list audit records", func(ctx context.Context) error {
			return m.load(ctx, "list_audit_records_c16", "ListAuditRecords of one caller (a page of 20), concurrency 16", 16, 20, 0,
				func(ctx context.Context, w int, i int64) error {
					_, err := auditc.ListAuditRecords(ctx, &sinergiv1.ListAuditRecordsRequest{Access: oversight,
						CallerCode: callers.names[int(i)%10], PageSize: 20})
					return err
				})
		}},
		{"inclusion proofs", func(ctx context.Context) error { return m.inclusion(ctx, auditc) }},
	}
	if m.full() {
		steps = append(steps,
			namedStep{"submit report", func(ctx context.Context) error {
				c := sinergiv1.NewReportServiceClient(m.e.Conn("lapas-permisan"))
				var key atomic.Int64 // unique across the warm-up and the load
				return m.load(ctx, "submit_report_c64", "SubmitReport at concurrency 64", 64, 30, 3000,
					func(ctx context.Context, w int, i int64) error {
						_, err := c.SubmitReport(ctx, bench.NarcoticsReport(fmt.Sprint("scale-", key.Add(1))))
						return err
					})
			}},
			namedStep{"retention drop", func(ctx context.Context) error { return m.retention(ctx, custody, anyID) }},
			namedStep{"national roster", func(ctx context.Context) error { return m.roster(ctx) }},
		)
	}
	return steps
}

// nameQueries are names as people who do not know the spelling type them:
// as written, misspelled, in the other spelling (old or modern), or an
// alias, of people held or once held.
func (m *measure) nameQueries(k int) []string {
	rng := rand.New(rand.NewPCG(7, 7))
	out := make([]string, k)
	for j := range out {
		rec, _, _, _ := m.c.Record(rng.IntN(m.records))
		id := rec.GetIdentity()
		q := id.GetFullName()
		switch x := rng.IntN(100); {
		case x < 40:
		case x < 65:
			q = Misspell(rng, q)
		case x < 85:
			if o := oldSpelling(q); o != q {
				q = o
			} else {
				q = names.Modern(q)
			}
		default:
			if len(id.GetAliases()) > 0 {
				q = id.GetAliases()[0]
			}
		}
		out[j] = q
	}
	return out
}

// inclusion asks proofs of generated records at the log's size, checking
// some as an auditor would.
func (m *measure) inclusion(ctx context.Context, c sinergiv1.AuditServiceClient) error {
	cp, err := c.GetCheckpoint(ctx, &sinergiv1.GetCheckpointRequest{})
	if err != nil {
		return err
	}
	root, size := cp.GetCheckpoint().GetRootHash(), cp.GetCheckpoint().GetTreeSize()
	ids := m.t.Sample
	return m.load(ctx, "audit_inclusion_proof_c16", fmt.Sprintf("GetInclusionProof at %d records, concurrency 16", size), 16, 10, 0,
		func(ctx context.Context, _ int, i int64) error {
			p, err := c.GetInclusionProof(ctx, &sinergiv1.GetInclusionProofRequest{Access: oversight, RecordId: ids[int(mix(uint64(i))%uint64(len(ids)))], TreeSize: size})
			if err != nil {
				return err
			}
			// A record of the other side comes without its leaf: only the
			// caller's side's are checked.
			if i%64 == 0 && p.GetLeaf() != nil {
				return proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(p.GetLeafIndex()), uint64(size), audit.LeafHash(p.GetLeaf()), p.GetHashes(), root)
			}
			return nil
		})
}

// retention drops the oldest month of the trail, as the server's
// retention does (sinergi_audit_drop_month, as the integrator's role),
// while GetCustodyRecord runs at concurrency 64, and records how long the
// drop took and the p99 of the calls that overlapped it.
func (m *measure) retention(ctx context.Context, custody sinergiv1.CustodyServiceClient, anyID func(int64) string) error {
	conn, err := pgx.Connect(ctx, m.e.Roles.Integrator)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	month := monthStart(m.t.Now, Months-1)
	type call struct{ start, end time.Time }
	calls := make([][]call, 64)
	var stop atomic.Bool
	var n atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				t0 := time.Now()
				if _, err := custody.GetCustodyRecord(ctx, &sinergiv1.GetCustodyRecordRequest{Access: analyst, Id: anyID(n.Add(1))}); err != nil {
					errs <- err
					return
				}
				calls[w] = append(calls[w], call{t0, time.Now()})
			}
		}()
	}
	time.Sleep(2 * time.Second)
	t0 := time.Now()
	var dropped int64
	_, err = conn.Exec(ctx, `SET ROLE NONE`)
	if err == nil {
		err = conn.QueryRow(ctx, `SELECT sinergi_audit_drop_month($1)`, month).Scan(&dropped)
	}
	t1 := time.Now()
	time.Sleep(2 * time.Second)
	stop.Store(true)
	wg.Wait()
	close(errs)
	if err != nil {
		return fmt.Errorf("drop %s: %w", month.Format("2006-01"), err)
	}
	if err := <-errs; err != nil {
		return err
	}
	var during []time.Duration
	for _, cs := range calls {
		for _, c := range cs {
			if c.end.After(t0) && c.start.Before(t1) {
				during = append(during, c.end.Sub(c.start))
			}
		}
	}
	_, p99 := bench.Latencies(during)
	m.add("retention_drop_month_s", fmt.Sprintf("retention drops the month %s (%d records) under GetCustodyRecord c64", month.Format("2006-01"), dropped),
		t1.Sub(t0).Seconds(), "<=", 1, "s")
	m.add("retention_drop_month_records", "", float64(dropped), "", 0, "")
	m.add("retention_drop_get_custody_record_c64_p99_ms", fmt.Sprintf("GetCustodyRecord p99 of the %d calls that overlapped the drop", len(during)), p99, "<=", 30, "ms")
	return nil
}
