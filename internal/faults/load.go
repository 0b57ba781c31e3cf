package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/requestid"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// The callers of the load: a facility officer filing reports and recording
// custody events, a police analyst reading and watching.
var (
	officer = &sinergiv1.AccessContext{OperatorId: "198503152010011001", Purpose: sinergiv1.Purpose_PURPOSE_SECURITY_COORDINATION}
	analyst = &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_CRIMINAL_INVESTIGATION, CaseReference: "LP/B/123/VIII/2026/BARESKRIM"}
)

// Who does what in the load (demo directory): Lapas Permisan files
// reports, which Polres Cilacap receives; Lapas Metro records custody
// events, which Polres Metro watches in its jurisdiction; Mabes reads.
const (
	reportFacility = "lapas-permisan"
	reportPolice   = "polres-cilacap"
	eventFacility  = "lapas-metro"
	eventPolice    = "polres-metro"
	reader         = "mabes-polri"
)

// withID gives a call its request id, which its audit record carries.
func withID(ctx context.Context, id string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, requestid.Header, id)
}

// Call is one call the load made.
type Call struct {
	Server    string
	Method    string
	RequestID string
	Code      codes.Code
	Start     time.Time
	End       time.Time
	Write     bool
	// Msg is a failed call's status message.
	Msg string
}

// call is the Call of one finished call.
func call(server, method, id string, start time.Time, write bool, err error) Call {
	c := Call{Server: server, Method: method, RequestID: id, Code: status.Code(err), Start: start, End: time.Now(), Write: write}
	if err != nil {
		c.Msg = status.Convert(err).Message()
	}
	return c
}

// Ledger is what a load did and what it was told: every call, and every
// write acknowledged.
type Ledger struct {
	mu    sync.Mutex
	calls []Call
	// reports: idempotency key -> report id, for acknowledged submissions.
	reports map[string]string
	// events: acknowledged custody event ids.
	events []int64
}

func newLedger() *Ledger { return &Ledger{reports: map[string]string{}} }

func (l *Ledger) add(c Call) {
	l.mu.Lock()
	l.calls = append(l.calls, c)
	l.mu.Unlock()
}

// Calls returns every call so far.
func (l *Ledger) Calls() []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Call(nil), l.calls...)
}

// Acknowledged is how many writes were acknowledged.
func (l *Ledger) Acknowledged() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.reports) + len(l.events)
}

// FirstOKAfter is when the first call that started at or after t
// succeeded (zero if none has).
func (l *Ledger) FirstOKAfter(t time.Time, writesOnly bool) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first time.Time
	for _, c := range l.calls {
		if c.Code == codes.OK && !c.Start.Before(t) && (c.Write || !writesOnly) && (first.IsZero() || c.End.Before(first)) {
			first = c.End
		}
	}
	return first
}

// LastOKBefore is when the last call that succeeded before t ended.
func (l *Ledger) LastOKBefore(t time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var last time.Time
	for _, c := range l.calls {
		if c.Code == codes.OK && c.End.Before(t) && c.End.After(last) {
			last = c.End
		}
	}
	return last
}

// failures summarises the codes of failed calls: "UNAVAILABLE 37, INTERNAL 2".
func failures(calls []Call) (string, map[codes.Code]int) {
	by := map[codes.Code]int{}
	for _, c := range calls {
		if c.Code != codes.OK {
			by[c.Code]++
		}
	}
	var parts []string
	for code, n := range by {
		parts = append(parts, fmt.Sprintf("%s %d", codeName(code), n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", "), by
}

// codeName is a status code as gRPC's specification spells it: RESOURCE_EXHAUSTED.
func codeName(c codes.Code) string {
	var b strings.Builder
	name := c.String()
	for i, r := range name {
		if i > 0 && unicode.IsUpper(r) && unicode.IsLower(rune(name[i-1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// expectedFailure is a code a call may fail with while the database or a
// server is away: the caller is told to retry. Anything else (INTERNAL,
// UNKNOWN) is a fault of the service.
func expectedFailure(c codes.Code) bool {
	switch c {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Aborted:
		return true
	}
	return false
}

// Load is the write and read load of a scenario. Its callers go to the
// servers in turn: a call that fails is retried (reports, with the same
// idempotency key) on the next one, as a client of a replicated service would.
type Load struct {
	Prefix string
	// Servers the load calls.
	Servers []*Server
	// Held are records held at the event facility.
	Held []string
	// ReadIDs are records Mabes reads.
	ReadIDs []string
	// Workers of each kind, and the pause between one worker's calls.
	Reporters, Recorders, Readers int
	Pause                         time.Duration
	// MaxCalls bounds each worker's calls.
	MaxCalls int

	Ledger *Ledger
	stop   chan struct{}
	wg     sync.WaitGroup
	drain  time.Time
	mu     sync.Mutex
}

// Start runs the workers until Stop.
func (l *Load) Start(ctx context.Context) {
	if l.Ledger == nil {
		l.Ledger = newLedger()
	}
	if l.MaxCalls == 0 {
		l.MaxCalls = 20000
	}
	l.stop = make(chan struct{})
	for w := range l.Reporters {
		l.wg.Add(1)
		go func() { defer l.wg.Done(); l.reporter(ctx, w) }()
	}
	for w := range l.Recorders {
		l.wg.Add(1)
		go func() { defer l.wg.Done(); l.recorder(ctx, w) }()
	}
	for w := range l.Readers {
		l.wg.Add(1)
		go func() { defer l.wg.Done(); l.read(ctx, w) }()
	}
}

// Stop stops the workers: no new writes; a submission not yet
// acknowledged is retried with its key for up to drain, then given up.
func (l *Load) Stop(drain time.Duration) {
	l.mu.Lock()
	l.drain = time.Now().Add(drain)
	l.mu.Unlock()
	close(l.stop)
	l.wg.Wait()
}

func (l *Load) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

func (l *Load) draining() bool {
	if !l.stopped() {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Now().After(l.drain)
}

func (l *Load) pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// report is the submission of key: the same content on every retry, so
// that the retry is recognised as the same submission.
func report(key string, occur time.Time) *sinergiv1.SubmitReportRequest {
	return &sinergiv1.SubmitReportRequest{
		Access: officer, IdempotencyKey: key,
		Kind: sinergiv1.ReportKind_REPORT_KIND_NARCOTICS, Type: sinergiv1.ReportType_REPORT_TYPE_SMUGGLING_VIA_VISITOR,
		Severity: sinergiv1.ReportSeverity_REPORT_SEVERITY_MEDIUM, Classification: sinergiv1.ReportClassification_REPORT_CLASSIFICATION_BIASA,
		OccurTime: timestamppb.New(occur), Place: "Ruang kunjungan " + key,
		Narrative: "Pengunjung kedapatan menyelipkan paket kecil di dalam makanan kiriman.",
		Items: []*sinergiv1.ReportItem{{Item: &sinergiv1.ReportItem_Substance{Substance: &sinergiv1.ReportSubstanceItem{
			Substance: sinergiv1.ReportSubstance_REPORT_SUBSTANCE_METHAMPHETAMINE, Quantity: 4.2, Unit: sinergiv1.ReportQuantityUnit_REPORT_QUANTITY_UNIT_GRAM}}}},
	}
}

func (l *Load) reporter(ctx context.Context, w int) {
	srv := w % len(l.Servers)
	occur := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i := 0; i < l.MaxCalls && !l.stopped() && ctx.Err() == nil; i++ {
		key := fmt.Sprintf("%s-%d-%d", l.Prefix, w, i)
		req := report(key, occur)
		for attempt := 0; ctx.Err() == nil && !l.draining(); attempt++ {
			id := fmt.Sprintf("%s-a%d", key, attempt)
			cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			start := time.Now()
			resp, err := sinergiv1.NewReportServiceClient(l.Servers[srv].Conn(reportFacility)).SubmitReport(withID(cctx, id), req)
			cancel()
			l.Ledger.add(call(l.Servers[srv].Name, "SubmitReport", id, start, true, err))
			if err == nil {
				l.Ledger.mu.Lock()
				l.Ledger.reports[key] = resp.GetReport().GetId()
				l.Ledger.mu.Unlock()
				break
			}
			srv = (srv + 1) % len(l.Servers)
			l.pause(ctx, 100*time.Millisecond)
		}
		l.pause(ctx, l.Pause)
	}
}

func (l *Load) recorder(ctx context.Context, w int) {
	rng := rand.New(rand.NewPCG(uint64(w), 7))
	srv := w % len(l.Servers)
	// Each recorder has records of its own: events of one record must come
	// in effective-time order, which two writers racing would not keep.
	var mine []string
	for i, id := range l.Held {
		if i%l.Recorders == w {
			mine = append(mine, id)
		}
	}
	for i := 0; i < l.MaxCalls && !l.stopped() && ctx.Err() == nil; i++ {
		id := fmt.Sprintf("%s-e%d-%d", l.Prefix, w, i)
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		start := time.Now()
		resp, err := sinergiv1.NewCustodyServiceClient(l.Servers[srv].Conn(eventFacility)).RecordCustodyEvent(withID(cctx, id),
			&sinergiv1.RecordCustodyEventRequest{RecordId: mine[rng.IntN(len(mine))], Event: &sinergiv1.CustodyEvent{
				Type: sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_COURT_APPEARANCE, EffectiveTime: timestamppb.Now()}})
		cancel()
		l.Ledger.add(call(l.Servers[srv].Name, "RecordCustodyEvent", id, start, true, err))
		if err == nil {
			l.Ledger.mu.Lock()
			l.Ledger.events = append(l.Ledger.events, resp.GetEvent().GetId())
			l.Ledger.mu.Unlock()
		} else {
			// A custody event is not retried: without an idempotency key a
			// retry of a write whose acknowledgement was lost would record
			// it twice. The next one goes to the next server.
			srv = (srv + 1) % len(l.Servers)
			l.pause(ctx, 100*time.Millisecond)
		}
		l.pause(ctx, l.Pause)
	}
}

func (l *Load) read(ctx context.Context, w int) {
	rng := rand.New(rand.NewPCG(uint64(w), 11))
	srv := w % len(l.Servers)
	for i := 0; i < l.MaxCalls && !l.stopped() && ctx.Err() == nil; i++ {
		id := fmt.Sprintf("%s-g%d-%d", l.Prefix, w, i)
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		start := time.Now()
		_, err := sinergiv1.NewCustodyServiceClient(l.Servers[srv].Conn(reader)).GetCustodyRecord(withID(cctx, id),
			&sinergiv1.GetCustodyRecordRequest{Access: analyst, Id: l.ReadIDs[rng.IntN(len(l.ReadIDs))]})
		cancel()
		l.Ledger.add(call(l.Servers[srv].Name, "GetCustodyRecord", id, start, false, err))
		if err != nil {
			srv = (srv + 1) % len(l.Servers)
			l.pause(ctx, 100*time.Millisecond)
		}
		l.pause(ctx, l.Pause)
	}
}

// Delivery is one message a watcher received with an event in it.
type Delivery struct {
	EventID   int64
	RecordID  string
	RequestID string // of the stream it came on
	At        time.Time
}

// Watcher is a police unit watching custody events: it reconnects with its
// last cursor whenever its stream ends, to whichever server answers.
type Watcher struct {
	Name    string
	Code    string
	Servers []*Server

	mu         sync.Mutex
	deliveries []Delivery
	cursor     string
	ends       []codes.Code
	streams    []string // request ids
	ready      chan struct{}
	onDelivery func(Delivery)
	cancel     context.CancelFunc
	done       chan struct{}
}

// StartWatcher opens the watch and keeps it open until Stop; it returns
// once the first stream has given its starting cursor.
func StartWatcher(ctx context.Context, name, code string, servers []*Server, onDelivery func(Delivery)) (*Watcher, error) {
	w := &Watcher{Name: name, Code: code, Servers: servers, ready: make(chan struct{}), onDelivery: onDelivery, done: make(chan struct{})}
	wctx, cancel := context.WithCancel(ctx)
	w.cancel = cancel
	go w.run(wctx)
	select {
	case <-w.ready:
		return w, nil
	case <-time.After(30 * time.Second):
		w.Stop()
		return nil, fmt.Errorf("watcher %s: no starting cursor within 30 s (ends: %v)", name, w.Ends())
	}
}

func (w *Watcher) run(ctx context.Context) {
	defer close(w.done)
	srv := 0
	var once sync.Once
	for n := 0; ctx.Err() == nil; n++ {
		id := fmt.Sprintf("%s-w%d", w.Name, n)
		w.mu.Lock()
		cursor := w.cursor
		w.streams = append(w.streams, id)
		w.mu.Unlock()
		stream, err := sinergiv1.NewCustodyServiceClient(w.Servers[srv].Conn(w.Code)).WatchCustodyEvents(withID(ctx, id),
			&sinergiv1.WatchCustodyEventsRequest{Access: analyst, Cursor: cursor})
		for err == nil {
			var m *sinergiv1.WatchCustodyEventsResponse
			if m, err = stream.Recv(); err != nil {
				break
			}
			d := Delivery{EventID: m.GetEvent().GetId(), RecordID: m.GetEvent().GetRecordId(), RequestID: id, At: time.Now()}
			w.mu.Lock()
			w.cursor = m.GetCursor()
			if m.GetEvent() != nil {
				w.deliveries = append(w.deliveries, d)
			}
			w.mu.Unlock()
			if m.GetEvent() == nil {
				once.Do(func() { close(w.ready) })
			} else if w.onDelivery != nil {
				w.onDelivery(d)
			}
		}
		w.mu.Lock()
		w.ends = append(w.ends, status.Code(err))
		w.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		srv = (srv + 1) % len(w.Servers)
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Stop closes the watch.
func (w *Watcher) Stop() {
	w.cancel()
	<-w.done
}

// Deliveries returns what it received so far.
func (w *Watcher) Deliveries() []Delivery {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Delivery(nil), w.deliveries...)
}

// Ends returns how each of its streams ended so far.
func (w *Watcher) Ends() []codes.Code {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]codes.Code(nil), w.ends...)
}

// Resumes is how many times it reconnected.
func (w *Watcher) Resumes() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return max(len(w.streams)-1, 0)
}

// compare holds deliveries against the events that should have been
// delivered: gap (expected, never delivered), duplicated, and phantom
// (delivered, not in the database).
func compare(deliveries []Delivery, expected []int64) (gap, dup, phantom int) {
	want := map[int64]bool{}
	for _, id := range expected {
		want[id] = true
	}
	seen := map[int64]int{}
	for _, d := range deliveries {
		seen[d.EventID]++
	}
	for id, n := range seen {
		if n > 1 {
			dup += n - 1
		}
		if !want[id] {
			phantom++
		}
	}
	for id := range want {
		if seen[id] == 0 {
			gap++
		}
	}
	return gap, dup, phantom
}

// catchUp waits until each watcher has received every expected event (or
// within has passed).
func catchUp(ctx context.Context, ws []*Watcher, expected []int64, within time.Duration) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		all := true
		for _, w := range ws {
			if gap, _, _ := compare(w.Deliveries(), expected); gap > 0 {
				all = false
			}
		}
		if all {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cursorOf is the resume cursor a stream's error carries (ErrorInfo
// metadata "cursor"), or "".
func cursorOf(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return ""
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetMetadata()["cursor"] != "" {
			return info.GetMetadata()["cursor"]
		}
	}
	return ""
}
