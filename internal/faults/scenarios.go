package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/demodata"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Size is how much load a run puts on each scenario.
type Size struct {
	// Before and After: how long the load runs before the fault and after
	// the service has recovered.
	Before, After time.Duration
	// Workers of each kind of the load, and the pause between one worker's calls.
	Reporters, Recorders, Readers int
	Pause                         time.Duration
	// RosterRecords is the size of the roster the server is killed during.
	RosterRecords int
	// StalledWatchers is how many watchers stop reading in slow-consumers.
	StalledWatchers int
}

// Full is `make faults`.
func Full() Size {
	return Size{Before: 3 * time.Second, After: 3 * time.Second, Reporters: 4, Recorders: 2, Readers: 2, Pause: 5 * time.Millisecond,
		RosterRecords: 100_000, StalledWatchers: 200}
}

// Quick is the scenarios' size in `make test`: the same checks, less load.
func Quick() Size {
	return Size{Before: time.Second, After: time.Second, Reporters: 2, Recorders: 1, Readers: 1, Pause: 10 * time.Millisecond,
		RosterRecords: 10_000, StalledWatchers: 20}
}

// Scenario is one fault and what must hold through it.
type Scenario struct {
	Name string
	// Quick scenarios take a few seconds; they also run in make test.
	Quick bool
	// Ends: the scenario ends the service (SIGTERM); it has no recovery.
	Ends bool
	Run  func(ctx context.Context, h *Harness, sz Size) Result
}

// Scenarios are the battery, in the order make faults runs them.
var Scenarios = []Scenario{
	{Name: "restart-fast", Quick: true, Run: restart(Fast)},
	{Name: "restart-immediate", Quick: true, Run: restart(Immediate)},
	{Name: "roster-kill9", Quick: true, Run: rosterKill},
	{Name: "audit-refuses", Quick: true, Run: auditRefuses},
	{Name: "slow-consumers", Run: slowConsumers},
	{Name: "replica-takeover", Quick: true, Run: replicaTakeover},
	{Name: "sigterm-streams", Quick: true, Ends: true, Run: sigtermStreams},
	{Name: "failover", Run: failover},
}

// ScenarioByName returns the scenario called name.
func ScenarioByName(name string) (Scenario, bool) {
	for _, s := range Scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// Main runs the scenarios (all when names is empty) and writes one line
// for each to out; it returns an error when any failed.
func Main(ctx context.Context, h *Harness, sz Size, names []string, out io.Writer) error {
	failed := 0
	for _, s := range Scenarios {
		if len(names) > 0 && !slices.Contains(names, s.Name) {
			continue
		}
		h.logf("running %s", s.Name)
		r := s.Run(ctx, h, sz)
		r.Name = s.Name
		if ctx.Err() != nil && r.Err == nil {
			r.Err = fmt.Errorf("interrupted: %w", ctx.Err())
		}
		fmt.Fprintln(out, r.Line())
		if !r.OK() {
			failed++
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d scenarios failed", failed)
	}
	return nil
}

// templateDB is the prepared database of the base cluster that the
// scenarios clone.
const templateDB = "faults_template"

// base is the run's shared cluster, with the template database prepared.
func (h *Harness) base(ctx context.Context) (*Cluster, error) {
	h.mu.Lock()
	c := h.baseCluster
	h.mu.Unlock()
	if c != nil {
		return c, nil
	}
	h.logf("starting a cluster and preparing the template database (%d people)", h.People)
	c, err := h.initCluster(ctx, "base")
	if err != nil {
		return nil, err
	}
	d, err := h.prepare(ctx, c, templateDB)
	if err != nil {
		return nil, err
	}
	d.Pool.Close()
	h.mu.Lock()
	h.baseCluster = c
	h.mu.Unlock()
	return c, nil
}

// single is a scenario's own database on the base cluster, cloned from the template.
func (h *Harness) single(ctx context.Context, name string) (*Cluster, *Database, error) {
	c, err := h.base(ctx)
	if err != nil {
		return nil, nil, err
	}
	d, err := h.clone(ctx, c, templateDB, strings.ReplaceAll(name, "-", "_"))
	return c, d, err
}

// withApp gives a URL an application_name, to tell servers apart in pg_stat_activity.
func withApp(url, name string) string {
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "application_name=" + name
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// waitFor polls cond until it holds (true) or within passes (false).
func waitFor(ctx context.Context, within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// finish waits for the audit log to take in everything and verifies it.
func finish(ctx context.Context, r *Result, h *Harness, d *Database, integratorURL string) {
	if err := d.waitIntegrated(ctx, time.Minute); err != nil {
		r.fail("%v", err)
		return
	}
	line, ok := h.verifyLog(ctx, integratorURL)
	if !ok {
		r.fail("audit verify: %s", line)
		return
	}
	r.note("audit verify: %s", line)
}

func startWatchers(ctx context.Context, prefix string, n int, servers []*Server) ([]*Watcher, error) {
	var ws []*Watcher
	for i := range n {
		// Each starts on another server and moves on to the next when its stream ends.
		order := append(slices.Clone(servers[i%len(servers):]), servers[:i%len(servers)]...)
		w, err := StartWatcher(ctx, fmt.Sprintf("%s-watch%d", prefix, i), eventPolice, order, nil)
		if err != nil {
			stopWatchers(ws)
			return nil, err
		}
		ws = append(ws, w)
	}
	return ws, nil
}

func stopWatchers(ws []*Watcher) {
	for _, w := range ws {
		w.Stop()
	}
}

// restart: PostgreSQL restarts (fast or immediate) under load. Every
// acknowledged write is in the database afterwards, every successful
// response has its audit record, watchers resume with no gap, and the
// server recovers by itself.
func restart(mode StopMode) func(ctx context.Context, h *Harness, sz Size) Result {
	return func(ctx context.Context, h *Harness, sz Size) (r Result) {
		r = Result{Name: "restart-" + string(mode), Recovery: -1}
		c, d, err := h.single(ctx, r.Name)
		if err != nil {
			r.Err = err
			return r
		}
		defer d.Close()
		srv, err := h.StartServer(ctx, r.Name, d.App, d.Integrator)
		if err != nil {
			r.Err = err
			return r
		}
		defer srv.Stop()
		since := time.Now().Add(-time.Second)
		afterEvent, err := d.lastEvent(ctx)
		if err != nil {
			r.Err = err
			return r
		}
		held, err := d.heldAt(ctx, eventFacility, 200)
		if err != nil {
			r.Err = err
			return r
		}
		ws, err := startWatchers(ctx, r.Name, 2, []*Server{srv})
		if err != nil {
			r.Err = err
			return r
		}
		defer stopWatchers(ws)
		load := &Load{Prefix: r.Name, Servers: []*Server{srv}, Held: held, ReadIDs: held,
			Reporters: sz.Reporters, Recorders: sz.Recorders, Readers: sz.Readers, Pause: sz.Pause}
		load.Start(ctx)
		sleep(ctx, sz.Before)
		hs := sampleHealth(ctx, srv)
		down, up, err := c.Restart(ctx, mode)
		health := hs.Stop()
		if err != nil {
			load.Stop(0)
			r.Err = err
			return r
		}
		r.note("health while the database was down: %s", health)
		if !waitFor(ctx, time.Minute, func() bool { return !load.Ledger.FirstOKAfter(up, true).IsZero() }) {
			r.fail("no write succeeded within a minute of the database's return")
		} else {
			first := load.Ledger.FirstOKAfter(up, true)
			r.Recovery = first.Sub(up)
			r.note("database down %.2fs, callers without a successful write for %.2fs", up.Sub(down).Seconds(),
				first.Sub(load.Ledger.LastOKBefore(down)).Seconds())
		}
		sleep(ctx, sz.After)
		load.Stop(20 * time.Second)
		if err := srv.WaitServing(ctx, 30*time.Second); err != nil {
			r.fail("health not SERVING again: %v", err)
		}
		if err := judge(ctx, &r, d, load, ws, afterEvent, since); err != nil {
			r.Err = err
			return r
		}
		finish(ctx, &r, h, d, d.Integrator)
		return r
	}
}

// rosterRecords is a roster of n new people for facility.
func rosterRecords(facility demodata.Facility, n int) []*sinergiv1.CustodyRecord {
	g := demodata.NewGenerator(4242, facility, time.Now())
	recs := make([]*sinergiv1.CustodyRecord, n)
	for i := range recs {
		recs[i] = g.Person(i)
		recs[i].RegisterNumber = fmt.Sprintf("FAULT-%07d", i)
	}
	return recs
}

// rosterFacility receives the roster of roster-kill9.
var rosterFacility = demodata.Facility{Code: "lapas-cipinang", Kind: sinergiv1.InstitutionKind_INSTITUTION_KIND_LAPAS, Region: "31.75", Ordinal: 40}

// uploadRoster sends recs as one roster. kill, when set, is called once
// killAt records are sent (or, with killAt = len(recs), once all are).
func uploadRoster(ctx context.Context, srv *Server, id string, recs []*sinergiv1.CustodyRecord, killAt int, kill func()) (*sinergiv1.SyncRosterResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	stream, err := sinergiv1.NewCustodyServiceClient(srv.Conn(rosterFacility.Code)).SyncRoster(withID(ctx, id))
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&sinergiv1.SyncRosterRequest{Item: &sinergiv1.SyncRosterRequest_Header{Header: &sinergiv1.RosterHeader{}}}); err != nil {
		return stream.CloseAndRecv()
	}
	for i, rec := range recs {
		if kill != nil && i == killAt {
			kill()
		}
		if err := stream.Send(&sinergiv1.SyncRosterRequest{Item: &sinergiv1.SyncRosterRequest_Record{Record: rec}}); err != nil {
			break // the server has gone or refused: its status follows
		}
	}
	if kill != nil && killAt >= len(recs) {
		if err := stream.CloseSend(); err == nil {
			sleep(ctx, 50*time.Millisecond)
		}
		kill()
	}
	return stream.CloseAndRecv()
}

// rosterKill: a server is killed (SIGKILL) during a roster upload, once
// mid-upload and once as the whole roster has been sent. Nothing of the
// roster is half-written: its records are all there or none; a re-sync
// to a new server converges.
func rosterKill(ctx context.Context, h *Harness, sz Size) (r Result) {
	r = Result{Name: "roster-kill9", Recovery: -1}
	_, d, err := h.single(ctx, r.Name)
	if err != nil {
		r.Err = err
		return r
	}
	defer d.Close()
	n := sz.RosterRecords
	recs := rosterRecords(rosterFacility, n)
	written := func() (int64, error) {
		return d.count(ctx, `SELECT count(*) FROM custody_records WHERE facility_code = $1 AND starts_with(register_number, 'FAULT-')`, rosterFacility.Code)
	}
	ledger := newLedger()
	var lastKill time.Time
	for i, at := range []int{n * 6 / 10, n} {
		srv, err := h.StartServer(ctx, fmt.Sprintf("%s-%d", r.Name, i), d.App, d.Integrator)
		if err != nil {
			r.Err = err
			return r
		}
		id := fmt.Sprintf("roster-kill-%d", i)
		start := time.Now()
		_, err = uploadRoster(ctx, srv, id, recs, at, func() { lastKill = time.Now(); srv.Kill() })
		ledger.add(call(srv.Name, "SyncRoster", id, start, true, err))
		srv.Kill()
		got, err := written()
		if err != nil {
			r.Err = err
			return r
		}
		what := map[int]string{0: "mid-upload", 1: "after the last record"}[i]
		switch {
		case got != 0 && got != int64(n):
			r.fail("killed %s: %d of the roster's %d records written (half-written)", what, got, n)
		case got == int64(n):
			// The merge committed before the kill: its record with it.
			if ok, err := d.auditedOK(ctx, []string{id}); err != nil || !ok[id] {
				r.Unaudited++
				r.fail("killed %s: the merge committed without its audit record", what)
			}
			r.note("killed %s: the merge had committed", what)
		default:
			r.note("killed %s: nothing written", what)
		}
	}
	// A new server; the lock of a killed upload is free once its session has ended.
	srv, err := h.StartServer(ctx, r.Name+"-resync", d.App, d.Integrator)
	if err != nil {
		r.Err = err
		return r
	}
	defer srv.Stop()
	var resp *sinergiv1.SyncRosterResponse
	for attempt := 0; ; attempt++ {
		id := fmt.Sprintf("roster-resync-%d", attempt)
		start := time.Now()
		resp, err = uploadRoster(ctx, srv, id, recs, -1, nil)
		ledger.add(call(srv.Name, "SyncRoster", id, start, true, err))
		if err == nil {
			r.Recovery = start.Sub(lastKill)
			break
		}
		if status.Code(err) != codes.Aborted || attempt > 300 {
			r.fail("re-sync: %v", err)
			break
		}
		sleep(ctx, 200*time.Millisecond)
	}
	if resp != nil {
		r.Acknowledged = int(resp.GetInserted() + resp.GetUpdated() + resp.GetUnchanged())
		if resp.GetRejected() > 0 {
			r.fail("re-sync rejected %d records", resp.GetRejected())
		}
		r.note("re-sync: %d inserted, %d updated, %d unchanged", resp.GetInserted(), resp.GetUpdated(), resp.GetUnchanged())
	}
	got, err := written()
	if err != nil {
		r.Err = err
		return r
	}
	if got < int64(r.Acknowledged) {
		r.Lost = r.Acknowledged - int(got)
	}
	dups, err := d.count(ctx, `SELECT count(*) - count(DISTINCT register_number) FROM custody_records WHERE facility_code = $1`, rosterFacility.Code)
	if err != nil {
		r.Err = err
		return r
	}
	r.Duplicated = int(dups)
	if got > int64(n) {
		r.Duplicated += int(got) - n
	}
	// Converged: syncing the same roster again changes nothing.
	again, err := uploadRoster(ctx, srv, "roster-converged", recs, -1, nil)
	ledger.add(Call{Server: srv.Name, Method: "SyncRoster", RequestID: "roster-converged", Code: status.Code(err), Write: true})
	switch {
	case err != nil:
		r.fail("second re-sync: %v", err)
	case again.GetUnchanged() != int64(n) || again.GetInserted() != 0 || again.GetUpdated() != 0:
		r.fail("second re-sync did not converge: %d inserted, %d updated, %d unchanged", again.GetInserted(), again.GetUpdated(), again.GetUnchanged())
	}
	if r.Unaudited, err = d.unauditedCalls(ctx, ledger.Calls()); err != nil {
		r.Err = err
		return r
	}
	// A merge that committed has its call's record in the same transaction.
	merged, err := d.count(ctx, `SELECT count(*) FROM audit_records WHERE method = $1 AND status_code = 'OK'`,
		sinergiv1.CustodyService_SyncRoster_FullMethodName)
	if err != nil {
		r.Err = err
		return r
	}
	if oks := okCalls(ledger.Calls()); merged < int64(oks) {
		r.Unaudited += oks - int(merged)
	}
	finish(ctx, &r, h, d, d.Integrator)
	return r
}

func okCalls(calls []Call) int {
	n := 0
	for _, c := range calls {
		if c.Code == codes.OK {
			n++
		}
	}
	return n
}

// probe makes one read and two writes (a report, a custody event) and
// records them.
func probe(ctx context.Context, srv *Server, l *Ledger, prefix string, held []string, occur time.Time) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	id := prefix + "-g"
	start := time.Now()
	_, err := sinergiv1.NewCustodyServiceClient(srv.Conn(reader)).GetCustodyRecord(withID(ctx, id), &sinergiv1.GetCustodyRecordRequest{Access: analyst, Id: held[0]})
	l.add(call(srv.Name, "GetCustodyRecord", id, start, false, err))
	id = prefix + "-r"
	start = time.Now()
	rep, err := sinergiv1.NewReportServiceClient(srv.Conn(reportFacility)).SubmitReport(withID(ctx, id), report(prefix, occur))
	l.add(call(srv.Name, "SubmitReport", id, start, true, err))
	if err == nil {
		l.mu.Lock()
		l.reports[prefix] = rep.GetReport().GetId()
		l.mu.Unlock()
	}
	id = prefix + "-e"
	start = time.Now()
	ev, err := sinergiv1.NewCustodyServiceClient(srv.Conn(eventFacility)).RecordCustodyEvent(withID(ctx, id), &sinergiv1.RecordCustodyEventRequest{
		RecordId: held[0], Event: &sinergiv1.CustodyEvent{Type: sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_COURT_APPEARANCE, EffectiveTime: timestamppb.Now()}})
	l.add(call(srv.Name, "RecordCustodyEvent", id, start, true, err))
	if err == nil {
		l.mu.Lock()
		l.events = append(l.events, ev.GetEvent().GetId())
		l.mu.Unlock()
	}
}

// auditRefuses: the audit store refuses inserts (EXECUTE on the append
// function revoked from the server's role). Every call fails UNAVAILABLE:
// no data returned, no write applied, without its record; once the right
// is back, the server answers again by itself and the refused submissions
// go through once each.
func auditRefuses(ctx context.Context, h *Harness, sz Size) (r Result) {
	r = Result{Name: "audit-refuses", Recovery: -1}
	_, d, err := h.single(ctx, r.Name)
	if err != nil {
		r.Err = err
		return r
	}
	defer d.Close()
	srv, err := h.StartServer(ctx, r.Name, d.App, d.Integrator)
	if err != nil {
		r.Err = err
		return r
	}
	defer srv.Stop()
	held, err := d.heldAt(ctx, eventFacility, 10)
	if err != nil {
		r.Err = err
		return r
	}
	since := time.Now().Add(-time.Second)
	afterEvent, err := d.lastEvent(ctx)
	if err != nil {
		r.Err = err
		return r
	}
	occur := time.Now().Add(-time.Hour).Truncate(time.Second)
	load := &Load{Prefix: r.Name, Ledger: newLedger()}
	l := load.Ledger
	for i := range 3 {
		probe(ctx, srv, l, fmt.Sprintf("%s-before-%d", r.Name, i), held, occur)
	}
	if oks := okCalls(l.Calls()); oks != 9 {
		r.Err = fmt.Errorf("before the refusal only %d of 9 calls succeeded", oks)
		return r
	}
	if _, err := d.Pool.Exec(ctx, `REVOKE EXECUTE ON FUNCTION sinergi_audit_append FROM sinergi_app`); err != nil {
		r.Err = err
		return r
	}
	refused := newLedger()
	eventsBefore, err := d.count(ctx, `SELECT count(*) FROM custody_events`)
	if err != nil {
		r.Err = err
		return r
	}
	for i := range 5 {
		probe(ctx, srv, refused, fmt.Sprintf("%s-refused-%d", r.Name, i), held, occur)
	}
	for _, c := range refused.Calls() {
		l.add(c)
		if c.Code != codes.Unavailable {
			r.fail("%s while the audit store refuses: %s, want UNAVAILABLE", c.Method, codeName(c.Code))
		}
	}
	eventsDuring, err := d.count(ctx, `SELECT count(*) FROM custody_events`)
	if err != nil {
		r.Err = err
		return r
	}
	if eventsDuring != eventsBefore {
		r.Unaudited += int(eventsDuring - eventsBefore)
		r.fail("%d custody events recorded while the audit store refused", eventsDuring-eventsBefore)
	}
	reportsDuring, err := d.count(ctx, `SELECT count(*) FROM reports WHERE starts_with(idempotency_key, $1)`, r.Name+"-refused-")
	if err != nil {
		r.Err = err
		return r
	}
	if reportsDuring > 0 {
		r.Unaudited += int(reportsDuring)
		r.fail("%d reports filed while the audit store refused", reportsDuring)
	}
	if _, err := d.Pool.Exec(ctx, `GRANT EXECUTE ON FUNCTION sinergi_audit_append TO sinergi_app`); err != nil {
		r.Err = err
		return r
	}
	back := time.Now()
	recovered := false
	for i := 0; i < 600 && ctx.Err() == nil; i++ {
		probe(ctx, srv, l, fmt.Sprintf("%s-after-%d", r.Name, i), held, occur)
		if first := l.FirstOKAfter(back, true); !first.IsZero() {
			r.Recovery, recovered = first.Sub(back), true
			break
		}
		sleep(ctx, 100*time.Millisecond)
	}
	if !recovered {
		r.fail("no write succeeded within a minute of the audit store's return")
	}
	// The refused submissions, sent again: each filed once.
	for i := range 5 {
		key := fmt.Sprintf("%s-refused-%d", r.Name, i)
		id := key + "-retry"
		start := time.Now()
		rep, err := sinergiv1.NewReportServiceClient(srv.Conn(reportFacility)).SubmitReport(withID(ctx, id), report(key, occur))
		l.add(call(srv.Name, "SubmitReport", id, start, true, err))
		if err != nil {
			r.fail("refused submission %s sent again: %v", key, err)
			continue
		}
		l.mu.Lock()
		l.reports[key] = rep.GetReport().GetId()
		l.mu.Unlock()
	}
	if err := judge(ctx, &r, d, load, nil, afterEvent, since); err != nil {
		r.Err = err
		return r
	}
	finish(ctx, &r, h, d, d.Integrator)
	return r
}

// integratorLeader is the application_name of the server whose
// integrator holds the log's lock, or "".
func (d *Database) integratorLeader(ctx context.Context) string {
	var name string
	_ = d.Pool.QueryRow(ctx, `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND a.usename = 'sinergi_integrator' AND a.datname = current_database()
		ORDER BY a.backend_start LIMIT 1`).Scan(&name)
	return name
}

// replicaTakeover: two servers on one database; the one whose integrator
// leads is killed (SIGKILL) under load. The other takes over the log,
// integrates what the first wrote, and the log verifies.
func replicaTakeover(ctx context.Context, h *Harness, sz Size) (r Result) {
	r = Result{Name: "replica-takeover", Recovery: -1}
	_, d, err := h.single(ctx, r.Name)
	if err != nil {
		r.Err = err
		return r
	}
	defer d.Close()
	servers := map[string]*Server{}
	var list []*Server
	for _, name := range []string{"replica-a", "replica-b"} {
		s, err := h.StartServer(ctx, name, withApp(d.App, name), withApp(d.Integrator, name))
		if err != nil {
			r.Err = err
			return r
		}
		defer s.Stop()
		servers[name] = s
		list = append(list, s)
	}
	var leaderName string
	if !waitFor(ctx, 30*time.Second, func() bool { leaderName = d.integratorLeader(ctx); return servers[leaderName] != nil }) {
		r.Err = errors.New("neither server's integrator leads")
		return r
	}
	leader := servers[leaderName]
	other := list[0]
	if other == leader {
		other = list[1]
	}
	since := time.Now().Add(-time.Second)
	afterEvent, err := d.lastEvent(ctx)
	if err != nil {
		r.Err = err
		return r
	}
	held, err := d.heldAt(ctx, eventFacility, 200)
	if err != nil {
		r.Err = err
		return r
	}
	// The watchers start on the leader: its death ends their streams.
	ws, err := startWatchers(ctx, r.Name, 2, []*Server{leader, other})
	if err != nil {
		r.Err = err
		return r
	}
	defer stopWatchers(ws)
	load := &Load{Prefix: r.Name, Servers: []*Server{leader, other}, Held: held, ReadIDs: held,
		Reporters: sz.Reporters, Recorders: sz.Recorders, Readers: sz.Readers, Pause: sz.Pause}
	load.Start(ctx)
	sleep(ctx, sz.Before)
	killed := time.Now()
	leader.Kill()
	if !waitFor(ctx, time.Minute, func() bool { return d.integratorLeader(ctx) == other.Name }) {
		r.fail("%s did not take over the audit log within a minute", other.Name)
	} else {
		r.Recovery = time.Since(killed)
		r.note("%s killed, %s took over the log", leader.Name, other.Name)
	}
	sleep(ctx, sz.After)
	load.Stop(20 * time.Second)
	if first := load.Ledger.FirstOKAfter(killed, true); first.IsZero() {
		r.fail("no write succeeded after the kill")
	}
	if err := judge(ctx, &r, d, load, ws, afterEvent, since); err != nil {
		r.Err = err
		return r
	}
	finish(ctx, &r, h, d, d.Integrator)
	return r
}
