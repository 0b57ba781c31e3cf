package faults

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Result is what a scenario found.
type Result struct {
	Name string
	// Acknowledged writes (the client was told OK); of them, Lost are not in
	// the database afterwards. Unaudited: successful responses (calls and
	// stream deliveries) without their audit record, plus writes in the
	// database without the audit record of the call that made them.
	// Duplicated: writes applied more than once for one submission, and
	// events delivered twice to one watcher.
	Acknowledged, Lost, Unaudited, Duplicated int
	// Recovery is how long the service took to answer again by itself
	// after the fault (negative: not measured).
	Recovery time.Duration
	Notes    []string
	Failures []string
	// Err: the scenario could not run to its end.
	Err error
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func (r *Result) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

// OK reports whether the scenario ran and found nothing wrong.
func (r *Result) OK() bool {
	return r.Err == nil && len(r.Failures) == 0 && r.Lost == 0 && r.Unaudited == 0 && r.Duplicated == 0
}

// Line is the scenario's one line of `make faults`.
func (r *Result) Line() string {
	rec := "-"
	if r.Recovery >= 0 {
		rec = fmt.Sprintf("%.2fs", r.Recovery.Seconds())
	}
	verdict := "ok"
	if !r.OK() {
		verdict = "FAIL"
	}
	s := fmt.Sprintf("%-18s acknowledged=%-6d lost=%d unaudited=%d duplicated=%d recovery=%-6s %-4s", r.Name,
		r.Acknowledged, r.Lost, r.Unaudited, r.Duplicated, rec, verdict)
	var tail []string
	if r.Err != nil {
		tail = append(tail, "error: "+r.Err.Error())
	}
	tail = append(tail, r.Failures...)
	tail = append(tail, r.Notes...)
	if len(tail) > 0 {
		s += " " + strings.Join(tail, "; ")
	}
	return s
}

// auditedOK returns which of ids have an audit record with status OK.
func (d *Database) auditedOK(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	for len(ids) > 0 {
		n := min(len(ids), 5000)
		rows, err := d.Pool.Query(ctx, `SELECT DISTINCT request_id FROM audit_records WHERE request_id = ANY($1) AND status_code = 'OK'`, ids[:n])
		if err != nil {
			return nil, err
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, err
		}
		for _, id := range got {
			out[id] = true
		}
		ids = ids[n:]
	}
	return out, nil
}

// unauditedCalls counts the successful calls without an OK audit record.
func (d *Database) unauditedCalls(ctx context.Context, calls []Call) (int, error) {
	var ids []string
	for _, c := range calls {
		if c.Code == codes.OK {
			ids = append(ids, c.RequestID)
		}
	}
	got, err := d.auditedOK(ctx, ids)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if !got[id] {
			n++
		}
	}
	return n, nil
}

// unauditedDeliveries counts the deliveries without an audit record of
// their own: each delivery of a record on a stream is one OK record of
// that stream's request id naming the record.
func (d *Database) unauditedDeliveries(ctx context.Context, ds []Delivery) (int, error) {
	type key struct{ stream, subject string }
	want := map[key]int{}
	var streams []string
	for _, dl := range ds {
		k := key{dl.RequestID, "custody/" + dl.RecordID}
		if want[k] == 0 {
			streams = append(streams, dl.RequestID)
		}
		want[k]++
	}
	if len(want) == 0 {
		return 0, nil
	}
	rows, err := d.Pool.Query(ctx, `SELECT request_id, s, count(*) FROM audit_records, unnest(subjects) s
		WHERE request_id = ANY($1) AND status_code = 'OK' AND method = $2 GROUP BY 1, 2`,
		streams, sinergiv1.CustodyService_WatchCustodyEvents_FullMethodName)
	if err != nil {
		return 0, err
	}
	have := map[key]int{}
	for rows.Next() {
		var k key
		var n int
		if err := rows.Scan(&k.stream, &k.subject, &n); err != nil {
			rows.Close()
			return 0, err
		}
		have[k] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	missing := 0
	for k, n := range want {
		if have[k] < n {
			missing += n - have[k]
		}
	}
	return missing, nil
}

// lostWrites counts the acknowledged writes not in the database.
func (d *Database) lostWrites(ctx context.Context, l *Ledger) (int, error) {
	l.mu.Lock()
	var reports []string
	for _, id := range l.reports {
		reports = append(reports, id)
	}
	events := append([]int64(nil), l.events...)
	l.mu.Unlock()
	have, err := d.count(ctx, `SELECT count(*) FROM reports WHERE id = ANY($1)`, reports)
	if err != nil {
		return 0, err
	}
	haveEvents, err := d.count(ctx, `SELECT count(*) FROM custody_events WHERE id = ANY($1)`, events)
	if err != nil {
		return 0, err
	}
	return len(reports) - int(have) + len(events) - int(haveEvents), nil
}

// duplicatedReports counts reports filed more than once for one
// submission (idempotency key), and acknowledgements naming another report
// than the one filed under their key.
func (d *Database) duplicatedReports(ctx context.Context, prefix string, l *Ledger) (int, error) {
	rows, err := d.Pool.Query(ctx, `SELECT idempotency_key, id FROM reports WHERE facility_code = $1 AND starts_with(idempotency_key, $2)`,
		reportFacility, prefix+"-")
	if err != nil {
		return 0, err
	}
	filed := map[string][]string{}
	for rows.Next() {
		var k, id string
		if err := rows.Scan(&k, &id); err != nil {
			rows.Close()
			return 0, err
		}
		filed[k] = append(filed[k], id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	dup := 0
	for _, ids := range filed {
		dup += len(ids) - 1
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, id := range l.reports {
		if ids := filed[k]; len(ids) > 0 && ids[0] != id {
			dup++
		}
	}
	return dup, nil
}

// appliedUnaudited counts writes in the database that no successful call
// recorded: reports of the load whose id no OK SubmitReport record names,
// and custody events (after event afterEvent) beyond the OK
// RecordCustodyEvent records naming their record since since.
func (d *Database) appliedUnaudited(ctx context.Context, prefix string, afterEvent int64, since time.Time) (int, error) {
	reports, err := d.count(ctx, `SELECT count(*) FROM reports r WHERE r.facility_code = $1 AND starts_with(r.idempotency_key, $2)
		AND NOT EXISTS (SELECT 1 FROM audit_records a WHERE a.subjects @> ARRAY['report/' || r.id] AND a.status_code = 'OK' AND a.method = $3)`,
		reportFacility, prefix+"-", sinergiv1.ReportService_SubmitReport_FullMethodName)
	if err != nil {
		return 0, err
	}
	events, err := d.count(ctx, `
		WITH applied AS (SELECT 'custody/' || record_id AS s, count(*) AS n FROM custody_events WHERE id > $1 GROUP BY 1),
		     audited AS (SELECT s, count(*) AS n FROM audit_records, unnest(subjects) s
		                 WHERE method = $2 AND status_code = 'OK' AND at >= $3 GROUP BY 1)
		SELECT coalesce(sum(greatest(applied.n - coalesce(audited.n, 0), 0)), 0)::bigint FROM applied LEFT JOIN audited USING (s)`,
		afterEvent, sinergiv1.CustodyService_RecordCustodyEvent_FullMethodName, since)
	if err != nil {
		return 0, err
	}
	return int(reports + events), nil
}

// lastEvent is the newest custody event's id.
func (d *Database) lastEvent(ctx context.Context) (int64, error) {
	return d.count(ctx, `SELECT coalesce(max(id), 0) FROM custody_events`)
}

// eventsAfter lists the events of facility after event id.
func (d *Database) eventsAfter(ctx context.Context, facility string, id int64) ([]int64, error) {
	rows, err := d.Pool.Query(ctx, `SELECT id FROM custody_events WHERE facility_code = $1 AND id > $2 ORDER BY id`, facility, id)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// judge adds to r from what load and watchers did: acknowledged, lost,
// unaudited and duplicated writes and deliveries, and the codes of the
// calls that failed.
func judge(ctx context.Context, r *Result, d *Database, load *Load, ws []*Watcher, afterEvent int64, since time.Time) error {
	calls := load.Ledger.Calls()
	r.Acknowledged += load.Ledger.Acknowledged()
	lost, err := d.lostWrites(ctx, load.Ledger)
	if err != nil {
		return err
	}
	r.Lost += lost
	un, err := d.unauditedCalls(ctx, calls)
	if err != nil {
		return err
	}
	applied, err := d.appliedUnaudited(ctx, load.Prefix, afterEvent, since)
	if err != nil {
		return err
	}
	dup, err := d.duplicatedReports(ctx, load.Prefix, load.Ledger)
	if err != nil {
		return err
	}
	r.Unaudited += un + applied
	r.Duplicated += dup
	ok := 0
	for _, c := range calls {
		if c.Code == codes.OK {
			ok++
		}
	}
	summary, by := failures(calls)
	if summary == "" {
		summary = "none"
	}
	r.note("%d calls, %d OK, failed: %s", len(calls), ok, summary)
	for code, n := range by {
		if !expectedFailure(code) {
			msg := ""
			for _, c := range calls {
				if c.Code == code {
					msg = c.Method + ": " + c.Msg
					break
				}
			}
			r.fail("%d calls failed %s, e.g. %s (a fault of the service, not of the database: callers must be told to retry)", n, codeName(code), msg)
		}
	}
	if len(ws) == 0 {
		return nil
	}
	expected, err := d.eventsAfter(ctx, eventFacility, afterEvent)
	if err != nil {
		return err
	}
	catchUp(ctx, ws, expected, 30*time.Second)
	var gaps, dups, phantoms, resumes, delivered int
	ends := map[string]int{}
	for _, w := range ws {
		for _, c := range w.Ends() {
			ends[codeName(c)]++
		}
		ds := w.Deliveries()
		g, dp, ph := compare(ds, expected)
		gaps, dups, phantoms, resumes, delivered = gaps+g, dups+dp, phantoms+ph, resumes+w.Resumes(), delivered+len(ds)
		n, err := d.unauditedDeliveries(ctx, ds)
		if err != nil {
			return err
		}
		r.Unaudited += n
	}
	r.Duplicated += dups
	var endText []string
	for k, n := range ends {
		endText = append(endText, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(endText)
	if len(endText) == 0 {
		endText = []string{"none"}
	}
	r.note("%d watchers: %d deliveries of %d events, %d resumes (streams ended %s), gap %d, duplicated %d", len(ws), delivered, len(expected),
		resumes, strings.Join(endText, ", "), gaps, dups)
	if gaps > 0 {
		r.fail("watchers missed %d events (a gap after resuming)", gaps)
	}
	if phantoms > 0 {
		r.fail("watchers were told of %d events the database does not have", phantoms)
	}
	return nil
}
