package faults

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// rawWatch is one watch stream, not resumed when it ends: to see how it ends.
type rawWatch struct {
	id     string
	conn   *grpc.ClientConn // its own, closed with it; nil when shared
	stream sinergiv1.CustodyService_WatchCustodyEventsClient
	cancel context.CancelFunc

	mu       sync.Mutex
	received []Delivery
	cursor   string
	end      error
	endAt    time.Time
	reading  bool
	done     chan struct{}
}

// openWatch opens a watch (from cursor, "" for now) and reads its starting
// message; ownConn, when set, is closed with it.
func openWatch(ctx context.Context, conn *grpc.ClientConn, ownConn bool, id, cursor string) (*rawWatch, error) {
	sctx, cancel := context.WithCancel(ctx)
	w := &rawWatch{id: id, cancel: cancel, done: make(chan struct{})}
	if ownConn {
		w.conn = conn
	}
	var err error
	w.stream, err = sinergiv1.NewCustodyServiceClient(conn).WatchCustodyEvents(withID(sctx, id), &sinergiv1.WatchCustodyEventsRequest{Access: analyst, Cursor: cursor})
	if err == nil {
		var m *sinergiv1.WatchCustodyEventsResponse
		if m, err = w.stream.Recv(); err == nil {
			w.cursor = m.GetCursor()
		}
	}
	if err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

// read reads until the stream ends, in the background.
func (w *rawWatch) read() {
	w.mu.Lock()
	if w.reading {
		w.mu.Unlock()
		return
	}
	w.reading = true
	w.mu.Unlock()
	go func() {
		defer close(w.done)
		for {
			m, err := w.stream.Recv()
			w.mu.Lock()
			if err != nil {
				w.end, w.endAt = err, time.Now()
				w.mu.Unlock()
				return
			}
			w.cursor = m.GetCursor()
			if m.GetEvent() != nil {
				w.received = append(w.received, Delivery{EventID: m.GetEvent().GetId(), RecordID: m.GetEvent().GetRecordId(), RequestID: w.id, At: time.Now()})
			}
			w.mu.Unlock()
		}
	}()
}

// wait waits for the stream's end (or within); false if it has not ended.
func (w *rawWatch) wait(within time.Duration) bool {
	select {
	case <-w.done:
		return true
	case <-time.After(within):
		return false
	}
}

func (w *rawWatch) close() {
	w.cancel()
	if w.conn != nil {
		w.conn.Close()
	}
}

func (w *rawWatch) state() (received []Delivery, cursor string, end error, endAt time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Delivery(nil), w.received...), w.cursor, w.end, w.endAt
}

// emitter records court appearances at the event facility, one every
// pause, and remembers when each was sent.
type emitter struct {
	srv    *Server
	held   []string
	ledger *Ledger
	mu     sync.Mutex
	sentAt map[int64]time.Time
	n      int
}

func (e *emitter) emit(ctx context.Context, count int, pause time.Duration) {
	for i := 0; i < count && ctx.Err() == nil; i++ {
		e.mu.Lock()
		e.n++
		id := fmt.Sprintf("emit-%d", e.n)
		rec := e.held[e.n%len(e.held)]
		e.mu.Unlock()
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		start := time.Now()
		resp, err := sinergiv1.NewCustodyServiceClient(e.srv.Conn(eventFacility)).RecordCustodyEvent(withID(cctx, id), &sinergiv1.RecordCustodyEventRequest{
			RecordId: rec, Event: &sinergiv1.CustodyEvent{Type: sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_COURT_APPEARANCE, EffectiveTime: timestamppb.Now()}})
		cancel()
		e.ledger.add(call(e.srv.Name, "RecordCustodyEvent", id, start, true, err))
		if err == nil {
			e.ledger.mu.Lock()
			e.ledger.events = append(e.ledger.events, resp.GetEvent().GetId())
			e.ledger.mu.Unlock()
			e.mu.Lock()
			e.sentAt[resp.GetEvent().GetId()] = start
			e.mu.Unlock()
		}
		sleep(ctx, pause)
	}
}

// latencies of deliveries, from the write's call to the delivery, for
// events sent in [from, to): p50 and p99 in milliseconds.
func (e *emitter) latencies(ds []Delivery, from, to time.Time) (p50, p99 float64, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var lat []float64
	for _, d := range ds {
		t0, ok := e.sentAt[d.EventID]
		if ok && !t0.Before(from) && t0.Before(to) {
			lat = append(lat, float64(d.At.Sub(t0).Microseconds())/1000)
		}
	}
	if len(lat) == 0 {
		return 0, 0, 0
	}
	sort.Float64s(lat)
	at := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	return at(0.50), at(0.99), len(lat)
}

// rssTarget is the server's resident memory target (issue 16).
const rssTarget = 256

// slowConsumers: watchers that stop reading while events flow. Reported:
// the server's memory, the latency of a watcher that keeps reading, how
// the stalled ones are ended (told to resume with a cursor, or refused
// past a cap), and that those resumed from their cursor miss nothing.
func slowConsumers(ctx context.Context, h *Harness, sz Size) (r Result) {
	r = Result{Name: "slow-consumers", Recovery: -1}
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
	held, err := d.heldAt(ctx, eventFacility, 200)
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
	load := &Load{Prefix: r.Name, Ledger: newLedger()}
	em := &emitter{srv: srv, held: held, ledger: load.Ledger, sentAt: map[int64]time.Time{}}
	live, err := StartWatcher(ctx, "slow-live", eventPolice, []*Server{srv}, nil)
	if err != nil {
		r.Err = err
		return r
	}
	defer live.Stop()
	const pause = 20 * time.Millisecond
	t0 := time.Now()
	em.emit(ctx, int(2*time.Second/pause), pause)
	rssBefore, _ := srv.RSS()
	afterBaseline, err := d.lastEvent(ctx)
	if err != nil {
		r.Err = err
		return r
	}

	// The stalled watchers, each its own client connection (its own flow
	// control, as separate clients have), spread over three police units.
	// Their windows are HTTP/2's initial 64 KiB, fixed: gRPC's client would
	// otherwise grow them (BDP estimation) and take every message into its
	// own memory, as a client that reads its socket but not its stream does;
	// a stalled consumer reads neither.
	units := []string{eventPolice, "polda-lampung", "mabes-polri"}
	var stalled []*rawWatch
	refused := map[codes.Code]int{}
	for i := range sz.StalledWatchers {
		code := units[i%len(units)]
		conn := srv.Dial(code, grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
		w, err := openWatch(ctx, conn, true, fmt.Sprintf("slow-stalled-%d", i), "")
		if err != nil {
			refused[status.Code(err)]++
			continue
		}
		stalled = append(stalled, w)
	}
	defer func() {
		for _, w := range stalled {
			w.close()
		}
	}()
	t1 := time.Now()
	var peak float64
	sampled := make(chan struct{})
	sctx, stopSampling := context.WithCancel(ctx)
	go func() {
		defer close(sampled)
		for sctx.Err() == nil {
			if now, _ := srv.RSS(); now > peak {
				peak = now
			}
			sleep(sctx, 200*time.Millisecond)
		}
	}()
	// Enough events to fill every stalled watcher's transport (its 64 KiB
	// window and the server's 64 KiB of write quota: some 520 deliveries)
	// and then its queue (256); the server's cut-off for a full queue
	// (10 s) then passes without anyone reading.
	em.emit(ctx, 1200, pause/2)
	t2 := time.Now()
	// Until the server has ended every stalled stream (its call's record,
	// the one without subjects, is then written) or gives up on none for
	// long: nobody reads them meanwhile.
	ids := make([]string, len(stalled))
	for i, w := range stalled {
		ids[i] = w.id
	}
	var cut int64
	waitFor(ctx, 90*time.Second, func() bool {
		cut, _ = d.count(ctx, `SELECT count(DISTINCT request_id) FROM audit_records WHERE request_id = ANY($1) AND subjects = '{}'`, ids)
		return int(cut) == len(stalled)
	})
	cutAfter := time.Since(t2)
	stopSampling()
	<-sampled

	// How the stalled watchers were ended: each read now to its end.
	for _, w := range stalled {
		w.read()
	}
	ended := map[string]int{}
	withCursor := 0
	deadline := time.Now().Add(30 * time.Second)
	for _, w := range stalled {
		if !w.wait(time.Until(deadline)) {
			ended["still open"]++
			continue
		}
		_, _, end, _ := w.state()
		ended[codeName(status.Code(end))]++
		if cursorOf(end) != "" {
			withCursor++
		}
	}
	// A sample resumes from its cursor: nothing missed, nothing twice.
	expected, err := d.eventsAfter(ctx, eventFacility, afterBaseline)
	if err != nil {
		r.Err = err
		return r
	}
	var gaps, dups, sample int
	for i, w := range stalled {
		if i >= 10 {
			break
		}
		got, last, end, _ := w.state()
		cursor := cursorOf(end)
		if cursor == "" {
			cursor = last
		}
		rw, err := openWatch(ctx, srv.Conn(units[i%len(units)]), false, fmt.Sprintf("slow-resumed-%d", i), cursor)
		if err != nil {
			r.fail("stalled watcher %d could not resume: %v", i, err)
			continue
		}
		rw.read()
		waitFor(ctx, 30*time.Second, func() bool {
			more, _, _, _ := rw.state()
			g, _, _ := compare(append(got, more...), expected)
			return g == 0
		})
		more, _, _, _ := rw.state()
		rw.close()
		g, dp, _ := compare(append(got, more...), expected)
		gaps, dups, sample = gaps+g, dups+dp, sample+1
	}
	r.Duplicated += dups
	if gaps > 0 {
		r.fail("stalled watchers resumed from their cursor missed %d events", gaps)
	}
	p50a, p99a, na := em.latencies(live.Deliveries(), t0, t1)
	p50b, p99b, nb := em.latencies(live.Deliveries(), t1, t2)
	var endedText []string
	for k, n := range ended {
		endedText = append(endedText, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(endedText)
	var refusedText []string
	for k, n := range refused {
		refusedText = append(refusedText, fmt.Sprintf("%s %d", codeName(k), n))
	}
	if len(refusedText) == 0 {
		refusedText = []string{"none"}
	}
	r.note("%d stalled watchers (%d refused at open: %s): server RSS %.0f MiB before, peak %.0f MiB with them (target < %d)",
		sz.StalledWatchers, sz.StalledWatchers-len(stalled), strings.Join(refusedText, ", "), rssBefore, peak, rssTarget)
	r.note("live watcher p50/p99 %.1f/%.1f ms alone (%d), %.1f/%.1f ms beside the stalled (%d)", p50a, p99a, na, p50b, p99b, nb)
	r.note("stalled ended: %s (%d of them by the server within %.0fs of the last event), %d with a resume cursor; %d resumed from it: gap %d, duplicated %d",
		strings.Join(endedText, ", "), cut, cutAfter.Seconds(), withCursor, sample, gaps, dups)
	if peak >= rssTarget {
		r.fail("server RSS peaked at %.0f MiB with %d stalled watchers (target < %d MiB)", peak, sz.StalledWatchers, rssTarget)
	}
	if int(cut) < len(stalled) {
		r.fail("%d stalled watchers were not ended by the server while they did not read", len(stalled)-int(cut))
	}
	if ended["still open"] > 0 {
		r.fail("%d stalled watchers were never ended", ended["still open"])
	}
	for code, n := range refused {
		if code != codes.ResourceExhausted {
			r.fail("%d watchers refused at open with %s", n, codeName(code))
		}
	}
	if withCursor < len(stalled)-ended["still open"] {
		r.fail("%d stalled watchers ended without a resume cursor", len(stalled)-ended["still open"]-withCursor)
	}
	if err := judge(ctx, &r, d, load, []*Watcher{live}, afterEvent, since); err != nil {
		r.Err = err
		return r
	}
	finish(ctx, &r, h, d, d.Integrator)
	return r
}

// shutdownTarget is how soon after SIGTERM a server with open streams
// must have exited (issue 16).
const shutdownTarget = 2 * time.Second

// sigtermStreams: SIGTERM to a server with watch streams open. Reported:
// how long it takes to exit and how the streams end; the target is an exit
// within 2 s, every stream ended UNAVAILABLE with a resume cursor and its
// call's audit record written. A stream resumed from it on another server
// misses nothing.
func sigtermStreams(ctx context.Context, h *Harness, sz Size) (r Result) {
	r = Result{Name: "sigterm-streams", Recovery: -1}
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
	defer srv.Kill()
	held, err := d.heldAt(ctx, eventFacility, 20)
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
	load := &Load{Prefix: r.Name, Ledger: newLedger()}
	var streams []*rawWatch
	for i := range 4 {
		w, err := openWatch(ctx, srv.Conn(eventPolice), false, fmt.Sprintf("sigterm-watch-%d", i), "")
		if err != nil {
			r.Err = err
			return r
		}
		defer w.close()
		w.read()
		streams = append(streams, w)
	}
	em := &emitter{srv: srv, held: held, ledger: load.Ledger, sentAt: map[int64]time.Time{}}
	em.emit(ctx, 5, 20*time.Millisecond)
	waitFor(ctx, 30*time.Second, func() bool {
		for _, w := range streams {
			if got, _, _, _ := w.state(); len(got) < 5 {
				return false
			}
		}
		return true
	})
	term := time.Now()
	took, byItself := srv.Terminate(time.Minute)
	ends := map[string]int{}
	var ids []string
	withCursor := 0
	var lastEnd time.Duration
	for _, w := range streams {
		ids = append(ids, w.id)
		if !w.wait(30 * time.Second) {
			ends["still open"]++
			continue
		}
		_, _, end, at := w.state()
		ends[codeName(status.Code(end))]++
		if cursorOf(end) != "" {
			withCursor++
		}
		lastEnd = max(lastEnd, at.Sub(term))
	}
	var endText []string
	for k, n := range ends {
		endText = append(endText, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(endText)
	how := "by itself"
	if !byItself {
		how = "killed after a minute"
	}
	r.note("SIGTERM with %d streams open: exited %s after %.2fs; streams ended %s (last %.2fs after SIGTERM), %d with a resume cursor",
		len(streams), how, took.Seconds(), strings.Join(endText, ", "), lastEnd.Seconds(), withCursor)
	if took > shutdownTarget {
		r.fail("exit took %.2fs (target %s)", took.Seconds(), shutdownTarget)
	}
	if ends["UNAVAILABLE"] != len(streams) {
		r.fail("streams ended %s (target: all UNAVAILABLE)", strings.Join(endText, ", "))
	}
	if withCursor != len(streams) {
		r.fail("%d of %d streams ended without a resume cursor", len(streams)-withCursor, len(streams))
	}
	// Each stream's own record (the call's, not a delivery's) is in the trail.
	recorded, err := d.count(ctx, `SELECT count(DISTINCT request_id) FROM audit_records WHERE request_id = ANY($1) AND subjects = '{}'`, ids)
	if err != nil {
		r.Err = err
		return r
	}
	if int(recorded) < len(streams) {
		r.Unaudited += len(streams) - int(recorded)
		r.fail("%d of %d streams have no audit record of their call", len(streams)-int(recorded), len(streams))
	}
	// Resumed on a new server from where they were: nothing missed, nothing twice.
	srv2, err := h.StartServer(ctx, r.Name+"-2", d.App, d.Integrator)
	if err != nil {
		r.Err = err
		return r
	}
	defer srv2.Stop()
	var resumed []*Watcher
	for i, w := range streams {
		got, last, end, _ := w.state()
		cursor := cursorOf(end)
		if cursor == "" {
			cursor = last
		}
		rw := &Watcher{Name: fmt.Sprintf("sigterm-resumed-%d", i), Code: eventPolice, Servers: []*Server{srv2}, cursor: cursor,
			deliveries: got, ready: make(chan struct{}), done: make(chan struct{})}
		wctx, cancel := context.WithCancel(ctx)
		rw.cancel = cancel
		go rw.run(wctx)
		defer rw.Stop()
		resumed = append(resumed, rw)
	}
	em.srv = srv2
	em.emit(ctx, 5, 20*time.Millisecond)
	if err := judge(ctx, &r, d, load, resumed, afterEvent, since); err != nil {
		r.Err = err
		return r
	}
	finish(ctx, &r, h, d, d.Integrator)
	return r
}
