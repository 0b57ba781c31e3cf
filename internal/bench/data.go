package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/demodata"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

type step = struct {
	name string
	fn   func() error
}

// A police analyst at Mabes, investigating: every custody call carries this.
var analyst = &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION, CaseReference: "LP/B/123/VIII/2026/BARESKRIM"}

// A facility officer filing reports.
var officer = &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION}

// getCustodyHandled is the server's count of GetCustodyRecord calls.
const getCustodyHandled = `grpc_server_handled_total{grpc_code="OK",grpc_method="GetCustodyRecord",grpc_service="sinergi.v1.CustodyService",grpc_type="unary"}`

// sample is what the read benchmarks ask for.
type sample struct {
	ids, niks, names []string
	metro            []string // held records of lapas-metro, for events
}

// dataSteps are the custody and report benchmarks.
func dataSteps(ctx context.Context, e *Env, r *Results, cfg Config) []step {
	var s sample
	var mabes, metroFacility, metroPolice, permisan, cilacap *grpc.ClientConn
	conns := func() {
		mabes, metroFacility, metroPolice = e.Conn("mabes-polri"), e.Conn("lapas-metro"), e.Conn("polres-metro")
		permisan, cilacap = e.Conn("lapas-permisan"), e.Conn("polres-cilacap")
	}
	return []step{
		{"load demo people", func() error {
			if err := LoadPeople(ctx, e, cfg.People); err != nil {
				return err
			}
			conns()
			var err error
			s, err = takeSample(ctx, e.Store)
			return err
		}},
		{"directory read", func() error {
			// The same chain, TLS and audit, without custody SQL: what the
			// service costs around a query.
			c := sinergiv1.NewInstitutionServiceClient(mabes)
			l := Run(ctx, 64, cfg.Duration, func(ctx context.Context, w int, i int64) error {
				_, err := c.GetInstitution(ctx, &sinergiv1.GetInstitutionRequest{Code: "lapas-metro"})
				return err
			})
			if l.FirstErr != nil {
				return l.FirstErr
			}
			r.Add(Figure{Key: "get_institution_c64_rps", What: "GetInstitution (no custody SQL, audited) at concurrency 64", Value: l.Rate(), Unit: "/s"})
			r.Add(Figure{Key: "get_institution_c64_p99_ms", Value: l.Percentile(99), Unit: "ms"})
			return nil
		}},
		{"get custody record", func() error {
			c := sinergiv1.NewCustodyServiceClient(mabes)
			get := func(ctx context.Context, w int, i int64) error {
				_, err := c.GetCustodyRecord(ctx, &sinergiv1.GetCustodyRecordRequest{Access: analyst, Id: s.ids[int(i)%len(s.ids)]})
				return err
			}
			for _, conc := range []int{1, 16, 64} {
				var before map[string]float64
				var lsn0 int64
				if conc == 64 {
					var err error
					if before, err = e.scrape(ctx); err != nil {
						return err
					}
					if lsn0, err = e.walLSN(ctx); err != nil {
						return err
					}
				}
				l := Run(ctx, conc, cfg.Duration, get)
				if l.FirstErr != nil {
					return l.FirstErr
				}
				if conc == 64 {
					lsn1, err := e.walLSN(ctx)
					if err != nil {
						return err
					}
					// The records of the step's last calls reach the log
					// within the next passes of the integrator.
					if err := settle(ctx, e); err != nil {
						return err
					}
					after, err := e.scrape(ctx)
					if err != nil {
						return err
					}
					lag, n := histogramQuantile(before, after, "sinergi_audit_integration_lag_seconds", 0.99)
					r.Add(Figure{Key: "audit_integration_lag_c64_p99_ms", What: fmt.Sprintf("audit record written to signed checkpoint, during GetCustodyRecord c64 (%.0f records)", n),
						Value: lag * 1000, Op: "<=", Target: 1000, Unit: "ms"})
					calls := after[getCustodyHandled] - before[getCustodyHandled]
					r.Add(Figure{Key: "audit_wal_bytes_per_call", What: "WAL written per GetCustodyRecord call at c64 (its audit record, queue entry and leaf)",
						Value: float64(lsn1-lsn0) / max(calls, 1), Unit: "B"})
				}
				r.Add(Figure{Key: fmt.Sprintf("get_custody_record_c%d_rps", conc), Value: l.Rate(), Unit: "/s"})
				r.Add(Figure{Key: fmt.Sprintf("get_custody_record_c%d_p50_ms", conc), Value: l.Percentile(50), Unit: "ms"})
				// The c64 p99 target is a ratio to the floor's p99 in the
				// same run (below): absolute times differ from machine to
				// machine, the ratio much less.
				r.Add(Figure{Key: fmt.Sprintf("get_custody_record_c%d_p99_ms", conc), Value: l.Percentile(99), Unit: "ms"})
				if conc == 64 {
					floor := Run(ctx, 64, cfg.Duration, func(ctx context.Context, w int, i int64) error {
						return bareGet(ctx, e, s.ids[int(i)%len(s.ids)], i)
					})
					if floor.FirstErr != nil {
						return floor.FirstErr
					}
					r.Add(Figure{Key: "get_custody_record_floor_c64_rps", What: "bare pgx: the SELECT plus one INSERT-and-COMMIT audit row", Value: floor.Rate(), Unit: "/s"})
					r.Add(Figure{Key: "get_custody_record_floor_c64_p99_ms", Value: floor.Percentile(99), Unit: "ms"})
					r.Add(Figure{Key: "get_custody_record_c64_p99_vs_floor", What: "GetCustodyRecord's p99 at c64 over the floor's p99 in the same run",
						Value: l.Percentile(99) / max(floor.Percentile(99), 0.001), Op: "<=", Target: 0.5, Unit: "x"})
					r.Add(Figure{Key: "get_custody_record_c64_vs_floor", Value: l.Rate() / floor.Rate(), Op: ">=", Target: 1.5, Unit: "x"})
				}
			}
			return nil
		}},
		{"check presence", func() error {
			c := sinergiv1.NewCustodyServiceClient(mabes)
			for _, conc := range []int{1, 16, 64} {
				l := Run(ctx, conc, cfg.Duration, func(ctx context.Context, w int, i int64) error {
					_, err := c.CheckPresence(ctx, &sinergiv1.CheckPresenceRequest{Access: analyst, Nik: s.niks[int(i)%len(s.niks)]})
					return err
				})
				if l.FirstErr != nil {
					return l.FirstErr
				}
				r.Add(Figure{Key: fmt.Sprintf("check_presence_c%d_rps", conc), Value: l.Rate(), Unit: "/s"})
				r.Add(Figure{Key: fmt.Sprintf("check_presence_c%d_p99_ms", conc), Value: l.Percentile(99), Unit: "ms"})
			}
			return nil
		}},
		{"check presence nationally", func() error {
			// Polres Metro (Lampung) asks about people of every facility:
			// beyond its jurisdiction each hit is recorded, its facility
			// told, and a hit reference sealed (internal/presence).
			c := sinergiv1.NewCustodyServiceClient(metroPolice)
			l := Run(ctx, 64, cfg.Duration, func(ctx context.Context, w int, i int64) error {
				_, err := c.CheckPresence(ctx, &sinergiv1.CheckPresenceRequest{Access: analyst, Nik: s.niks[int(i)%len(s.niks)]})
				return err
			})
			if l.FirstErr != nil {
				return l.FirstErr
			}
			r.Add(Figure{Key: "check_presence_national_c64_rps", What: "CheckPresence by a Polres about anyone in the country (remote hits recorded) at concurrency 64",
				Value: l.Rate(), Unit: "/s"})
			r.Add(Figure{Key: "check_presence_national_c64_p99_ms", Value: l.Percentile(99), Op: "<=", Target: 20, Unit: "ms"})
			return nil
		}},
		{"search by name", func() error {
			c := sinergiv1.NewCustodyServiceClient(mabes)
			l := Run(ctx, 16, cfg.Duration, func(ctx context.Context, w int, i int64) error {
				_, err := c.SearchCustodyRecords(ctx, &sinergiv1.SearchCustodyRecordsRequest{Access: analyst, Name: s.names[int(i)%len(s.names)], PageSize: 20})
				return err
			})
			if l.FirstErr != nil {
				return l.FirstErr
			}
			r.Add(Figure{Key: "search_by_name_c16_rps", Value: l.Rate(), Unit: "/s"})
			r.Add(Figure{Key: "search_by_name_c16_p99_ms", Value: l.Percentile(99), Unit: "ms"})
			return nil
		}},
		{"sync roster", func() error { return SyncRoster(ctx, e, r, cfg.People) }},
		{"custody event delivery", func() error {
			return CustodyDelivery(ctx, r, sinergiv1.NewCustodyServiceClient(metroFacility), sinergiv1.NewCustodyServiceClient(metroPolice), s.metro)
		}},
		{"submit report", func() error {
			c := sinergiv1.NewReportServiceClient(permisan)
			var n atomic.Int64 // keys unique across warm-up and runs
			for _, conc := range []int{16, 64} {
				l := Run(ctx, conc, cfg.Duration, func(ctx context.Context, w int, i int64) error {
					_, err := c.SubmitReport(ctx, NarcoticsReport(fmt.Sprint("bench-", n.Add(1))))
					return err
				})
				if l.FirstErr != nil {
					return l.FirstErr
				}
				r.Add(Figure{Key: fmt.Sprintf("submit_report_c%d_rps", conc), Value: l.Rate(), Unit: "/s"})
				r.Add(Figure{Key: fmt.Sprintf("submit_report_c%d_p99_ms", conc), Value: l.Percentile(99), Unit: "ms"})
			}
			return nil
		}},
		{"report delivery", func() error {
			return ReportDelivery(ctx, r, sinergiv1.NewReportServiceClient(permisan), sinergiv1.NewReportServiceClient(cilacap))
		}},
		{"assistance request and thread post delivery", func() error {
			return AssistanceDelivery(ctx, r, sinergiv1.NewReportServiceClient(permisan), sinergiv1.NewReportServiceClient(cilacap))
		}},
		{"stalled watchers", func() error {
			return StalledWatchers(ctx, e, r, s.metro, func(r *Results) error {
				return CustodyDelivery(ctx, r, sinergiv1.NewCustodyServiceClient(metroFacility), sinergiv1.NewCustodyServiceClient(metroPolice), s.metro)
			})
		}},
		{"delivery beside a roster merge", func() error {
			return DeliveryBesideMerge(ctx, e, r, func(r *Results) error {
				return CustodyDelivery(ctx, r, sinergiv1.NewCustodyServiceClient(metroFacility), sinergiv1.NewCustodyServiceClient(metroPolice), s.metro)
			}, func(r *Results) error {
				return ReportDelivery(ctx, r, sinergiv1.NewReportServiceClient(permisan), sinergiv1.NewReportServiceClient(cilacap))
			})
		}},
		{"firearms register", func() error { return FirearmsRegister(ctx, e, r, cfg.Duration) }},
	}
}

// LoadPeople fills the demo facilities with synthetic people, as `sinergi
// demo-data` does.
func LoadPeople(ctx context.Context, e *Env, n int) error {
	d, err := e.Store.LoadDirectory(ctx)
	if err != nil {
		return err
	}
	_, err = demodata.Load(ctx, e.Store, 1, n, demodata.FacilitiesOf(d.Institutions), time.Now())
	return err
}

func takeSample(ctx context.Context, st *store.Store) (sample, error) {
	var s sample
	rows, err := st.Pool.Query(ctx, `SELECT id::text, coalesce(nik, ''), full_name FROM custody_records TABLESAMPLE SYSTEM (5) LIMIT 20000`)
	if err != nil {
		return s, err
	}
	for rows.Next() {
		var id, nik, name string
		if err := rows.Scan(&id, &nik, &name); err != nil {
			return s, err
		}
		s.ids = append(s.ids, id)
		if nik != "" {
			s.niks = append(s.niks, nik)
		}
		s.names = append(s.names, name)
	}
	if err := rows.Err(); err != nil {
		return s, err
	}
	rows, err = st.Pool.Query(ctx, `SELECT id::text FROM custody_records WHERE facility_code = 'lapas-metro' AND status = 'HELD' LIMIT 1000`)
	if err != nil {
		return s, err
	}
	if s.metro, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return s, err
	}
	if len(s.ids) == 0 || len(s.niks) == 0 || len(s.metro) == 0 {
		return s, fmt.Errorf("sample is empty: %d ids, %d NIKs, %d held at lapas-metro", len(s.ids), len(s.niks), len(s.metro))
	}
	return s, nil
}

// bareGet is the floor of GetCustodyRecord: the same row read by a bare
// pgx client, and one audit row inserted and committed for it.
func bareGet(ctx context.Context, e *Env, id string, i int64) error {
	st := e.Store
	rows, err := st.Pool.Query(ctx, `SELECT * FROM custody_records WHERE id = $1`, id)
	if err != nil {
		return err
	}
	for rows.Next() {
		if _, err := rows.Values(); err != nil {
			rows.Close()
			return err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	tx, err := st.Pool.Begin(ctx)
	if err != nil {
		return err
	}
	rec := benchRecord(i)
	rec.Method = sinergiv1.CustodyService_GetCustodyRecord_FullMethodName
	rec.Subjects = []string{"custody/" + id}
	if err := e.Sealer.Seal(ctx, rec); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	if err := store.AppendAuditTx(ctx, tx, rec); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	return tx.Commit(ctx)
}

// SyncRoster uploads n new records as one roster through the server, then
// COPYs the same rows (under other register numbers) straight into the same
// table, and compares the rates.
func SyncRoster(ctx context.Context, e *Env, r *Results, n int) error {
	d, err := e.Store.LoadDirectory(ctx)
	if err != nil {
		return err
	}
	var cipinang demodata.Facility
	for _, f := range demodata.FacilitiesOf(d.Institutions) {
		if f.Code == "lapas-cipinang" {
			cipinang = f
		}
	}
	now := time.Now()
	gen := demodata.NewGenerator(99, cipinang, now)
	recs := make([]*sinergiv1.CustodyRecord, n)
	for i := range recs {
		recs[i] = gen.Person(i)
		recs[i].RegisterNumber = fmt.Sprintf("BENCH-%07d", i)
	}

	conn := e.Conn("lapas-cipinang")
	defer conn.Close()
	start := time.Now()
	stream, err := sinergiv1.NewCustodyServiceClient(conn).SyncRoster(ctx)
	if err != nil {
		return err
	}
	if err := stream.Send(&sinergiv1.SyncRosterRequest{Item: &sinergiv1.SyncRosterRequest_Header{Header: &sinergiv1.RosterHeader{RosterTime: timestamppb.New(now)}}}); err != nil {
		return err
	}
	for _, rec := range recs {
		if err := stream.Send(&sinergiv1.SyncRosterRequest{Item: &sinergiv1.SyncRosterRequest_Record{Record: rec}}); err != nil {
			return err
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return err
	}
	synced := time.Since(start)
	if resp.GetInserted() != int64(n) {
		return fmt.Errorf("roster inserted %d of %d (%d rejected)", resp.GetInserted(), n, resp.GetRejected())
	}

	cols, row := store.BareCopyColumns()
	start = time.Now()
	_, err = e.Store.Pool.CopyFrom(ctx, pgx.Identifier{"custody_records"}, cols, pgx.CopyFromSlice(n, func(i int) ([]any, error) {
		rec := recs[i]
		rec.RegisterNumber = fmt.Sprintf("COPY-%07d", i)
		return row(rec, now), nil
	}))
	if err != nil {
		return fmt.Errorf("bare copy: %w", err)
	}
	copied := time.Since(start)
	syncRate, copyRate := float64(n)/synced.Seconds(), float64(n)/copied.Seconds()
	r.Add(Figure{Key: "sync_roster_records_per_s", What: fmt.Sprintf("SyncRoster of %d records", n), Value: syncRate, Unit: "/s"})
	r.Add(Figure{Key: "bare_copy_records_per_s", What: "bare COPY of the same rows into the same table", Value: copyRate, Unit: "/s"})
	r.Add(Figure{Key: "sync_roster_vs_copy", Value: syncRate / copyRate, Op: ">=", Target: 0.5, Unit: "x"})
	return nil
}

// delivery measures, n times, from a write to its arrival on a watching
// stream. send(i, mark) makes the i-th write, calling mark(key) just before
// it; recv returns the key of the next message delivered.
func delivery(ctx context.Context, n int, send func(i int, mark func(key string)) error, recv func() (string, error)) ([]time.Duration, error) {
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lat []time.Duration
	done := make(chan error, 1)
	go func() {
		for {
			key, err := recv()
			if err != nil {
				done <- err
				return
			}
			at := time.Now()
			mu.Lock()
			if t0, ok := sent[key]; ok {
				lat = append(lat, at.Sub(t0))
				delete(sent, key)
			}
			got := len(lat)
			mu.Unlock()
			if got == n {
				done <- nil
				return
			}
		}
	}()
	mark := func(key string) {
		mu.Lock()
		sent[key] = time.Now()
		mu.Unlock()
	}
	for i := range n {
		if err := send(i, mark); err != nil {
			return nil, err
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-done:
		mu.Lock()
		defer mu.Unlock()
		return lat, err
	case <-time.After(30 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		return nil, fmt.Errorf("only %d of %d deliveries arrived", len(lat), n)
	}
}

// CustodyDelivery records court appearances at Lapas Metro while Polres
// Metro watches, and measures from the call to the delivery.
func CustodyDelivery(ctx context.Context, r *Results, facility, police sinergiv1.CustodyServiceClient, held []string) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := police.WatchCustodyEvents(wctx, &sinergiv1.WatchCustodyEventsRequest{Access: analyst})
	if err != nil {
		return err
	}
	if _, err := stream.Recv(); err != nil { // the starting cursor
		return err
	}
	lat, err := delivery(ctx, 300, func(i int, mark func(string)) error {
		id := held[i%len(held)]
		mark(id)
		_, err := facility.RecordCustodyEvent(ctx, &sinergiv1.RecordCustodyEventRequest{RecordId: id, Event: &sinergiv1.CustodyEvent{
			Type: sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_COURT_APPEARANCE, EffectiveTime: timestamppb.Now()}})
		return err
	}, func() (string, error) {
		m, err := stream.Recv()
		return m.GetEvent().GetRecordId(), err
	})
	if err != nil {
		return err
	}
	p50, p99 := Latencies(lat)
	r.Add(Figure{Key: "custody_event_delivery_p50_ms", Value: p50, Unit: "ms"})
	r.Add(Figure{Key: "custody_event_delivery_p99_ms", Value: p99, Op: "<=", Target: 100, Unit: "ms"})
	return nil
}

// NarcoticsReport is the report the loads submit, keyed by key.
func NarcoticsReport(key string) *sinergiv1.SubmitReportRequest {
	return &sinergiv1.SubmitReportRequest{
		Access: officer, IdempotencyKey: key,
		Kind: sinergiv1.ReportKind_REPORT_KIND_NARCOTICS, Type: sinergiv1.ReportType_REPORT_TYPE_SMUGGLING_VIA_VISITOR,
		Severity: sinergiv1.ReportSeverity_REPORT_SEVERITY_MEDIUM, Classification: sinergiv1.ReportClassification_REPORT_CLASSIFICATION_BIASA,
		OccurTime: timestamppb.New(time.Now().Add(-time.Hour)), Place: "Ruang kunjungan " + key,
		Narrative: "Pengunjung kedapatan menyelipkan paket kecil di dalam makanan kiriman.",
		Items: []*sinergiv1.ReportItem{{Item: &sinergiv1.ReportItem_Substance{Substance: &sinergiv1.ReportSubstanceItem{
			Substance: sinergiv1.ReportSubstance_REPORT_SUBSTANCE_METHAMPHETAMINE, Quantity: 4.2, Unit: sinergiv1.ReportQuantityUnit_REPORT_QUANTITY_UNIT_GRAM}}}},
	}
}

// ReportDelivery files reports at Lapas Permisan while Polres Cilacap
// watches, and measures from the call to the delivery.
func ReportDelivery(ctx context.Context, r *Results, facility, police sinergiv1.ReportServiceClient) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := police.WatchReports(wctx, &sinergiv1.WatchReportsRequest{Access: analyst})
	if err != nil {
		return err
	}
	if _, err := stream.Recv(); err != nil { // the starting cursor
		return err
	}
	// Keys of their own for each run of the step (it runs again beside the
	// roster merge): a key reused for another report is ALREADY_EXISTS.
	run := time.Now().UnixNano()
	lat, err := delivery(ctx, 300, func(i int, mark func(string)) error {
		req := NarcoticsReport(fmt.Sprint("delivery-", run, "-", i))
		mark(req.GetPlace()) // the place carries the submission's key, to match it
		_, err := facility.SubmitReport(ctx, req)
		return err
	}, func() (string, error) {
		m, err := stream.Recv()
		return m.GetReport().GetPlace(), err
	})
	if err != nil {
		return err
	}
	p50, p99 := Latencies(lat)
	r.Add(Figure{Key: "report_delivery_p50_ms", Value: p50, Unit: "ms"})
	r.Add(Figure{Key: "report_delivery_p99_ms", Value: p99, Op: "<=", Target: 100, Unit: "ms"})
	return nil
}

// DeliveryBesideMerge measures custody-event and report delivery again
// while work that has nothing to do with them runs: 100 000-record roster
// merges at Lapas Cipinang, one after another, and a session sitting idle
// in a transaction that holds a transaction id. Deliveries to the watchers
// of other facilities must not wait for either.
func DeliveryBesideMerge(ctx context.Context, e *Env, r *Results, custody, reports func(*Results) error) error {
	idle, err := e.Store.Pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer idle.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	if _, err := idle.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		return err
	}
	d, err := e.Store.LoadDirectory(ctx)
	if err != nil {
		return err
	}
	var cipinang []demodata.Facility
	for _, f := range demodata.FacilitiesOf(d.Institutions) {
		if f.Code == "lapas-cipinang" {
			cipinang = append(cipinang, f)
		}
	}
	mctx, stop := context.WithCancel(ctx)
	merges := make(chan error, 1)
	var merged atomic.Int64
	go func() {
		for seed := uint64(1000); mctx.Err() == nil; seed++ {
			if _, err := demodata.Load(mctx, e.Store, seed, 100000, cipinang, time.Now()); err != nil && mctx.Err() == nil {
				merges <- err
				return
			}
			merged.Add(1)
		}
		merges <- nil
	}()
	time.Sleep(2 * time.Second) // the first merge under way
	var beside Results
	err = custody(&beside)
	if err == nil {
		err = reports(&beside)
	}
	stop()
	if merr := <-merges; err == nil {
		err = merr
	}
	if err != nil {
		return err
	}
	for _, f := range beside.figures {
		f.Key = strings.Replace(f.Key, "_delivery_", "_delivery_beside_merge_", 1)
		f.What = "the same, beside 100 000-record roster merges at another facility and an idle transaction"
		r.Add(f)
	}
	r.Add(Figure{Key: "delivery_beside_merge_merges", What: "roster merges of 100 000 records finished meanwhile", Value: float64(merged.Load())})
	return nil
}
