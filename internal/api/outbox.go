package api

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sinergi-id/sinergi/internal/audit"
)

// Streams is what the server's long-lived streams share: a memory budget
// for what they hold waiting for consumers that do not read, a cap on how
// many each institution has open, and the signal that the server is
// shutting down. A stream that would hold more than its share is told to
// come back with its cursor, so that a thousand stalled watchers cost a
// bounded amount of memory and live ones are not slowed by them.
type Streams struct {
	// Budget is how many bytes of undelivered messages all streams may
	// hold beyond each one's Allowance.
	Budget, Allowance int64
	// PerInstitution caps one institution's open streams.
	PerInstitution int
	// Stall is how long a consumer may leave its stream's queue full;
	// Pressure, how long while the budget is spent.
	Stall, Pressure time.Duration

	used  atomic.Int64
	mu    sync.Mutex
	open  map[string]int
	drain chan struct{}
	once  sync.Once

	held   prometheus.Gauge
	opened *prometheus.GaugeVec
	cut    *prometheus.CounterVec
	lag    prometheus.Histogram
}

// NewStreams returns the streams' limits, with metrics registered on reg
// (when set).
func NewStreams(budget int64, perInstitution int, reg prometheus.Registerer) *Streams {
	held := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sinergi_stream_held_bytes",
		Help: "Bytes of messages streams hold for consumers, beyond each stream's allowance."})
	opened := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sinergi_streams_open",
		Help: "Long-lived streams open, by institution."}, []string{"institution"})
	cut := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sinergi_streams_cut_total",
		Help: "Streams told to come back with their cursor, by why."}, []string{"reason"})
	lag := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sinergi_stream_delivery_lag_seconds",
		Help:    "Time from a delivery being put in its stream's outbox to its message being sent: its audit record's commit and the consumer's pace.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}})
	if reg != nil {
		reg.MustRegister(held, opened, cut, lag)
	}
	for _, r := range []string{"too_slow", "budget", "shutdown", "institution_cap"} {
		cut.WithLabelValues(r) // shown at 0 before the first cut
	}
	return &Streams{Budget: budget, Allowance: 16 << 10, PerInstitution: perInstitution, Stall: 10 * time.Second, Pressure: time.Second,
		open: map[string]int{}, drain: make(chan struct{}), held: held, opened: opened, cut: cut, lag: lag}
}

// Open counts a stream of institution; past the cap it is refused with
// RESOURCE_EXHAUSTED. release ends the count.
func (s *Streams) Open(institution string) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.PerInstitution > 0 && s.open[institution] >= s.PerInstitution {
		s.cut.WithLabelValues("institution_cap").Inc()
		return nil, status.Errorf(codes.ResourceExhausted,
			"%s has %d streams open, the most one institution may: close one (or reuse one stream per watcher) before opening another",
			institution, s.open[institution])
	}
	s.open[institution]++
	s.opened.WithLabelValues(institution).Inc()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.open[institution]--
			if s.open[institution] == 0 {
				delete(s.open, institution)
			}
			s.mu.Unlock()
			s.opened.WithLabelValues(institution).Dec()
		})
	}, nil
}

func (s *Streams) reserve(n int64) bool {
	if s.used.Add(n) > s.Budget {
		s.used.Add(-n)
		return false
	}
	s.held.Add(float64(n))
	return true
}

func (s *Streams) release(n int64) {
	if n > 0 {
		s.used.Add(-n)
		s.held.Sub(float64(n))
	}
}

// OpenBy is how many streams institution has open now.
func (s *Streams) OpenBy(institution string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open[institution]
}

// Held is how many bytes of the budget streams hold now.
func (s *Streams) Held() int64 { return s.used.Load() }

// Drain tells every stream the server is shutting down.
func (s *Streams) Drain() { s.once.Do(func() { close(s.drain) }) }

// Draining is closed when the server is shutting down.
func (s *Streams) Draining() <-chan struct{} { return s.drain }

// resume is the status of a stream ended by the server while the caller
// did nothing wrong: code, why, and the cursor to resume from (also in an
// ErrorInfo detail, for clients to read without parsing the message).
func resume(code codes.Code, reason, domain, msg, cursor string) error {
	st := status.New(code, msg+": reconnect with cursor "+cursor)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: domain,
		Metadata: map[string]string{"cursor": cursor}}); err == nil {
		return d.Err()
	}
	return st.Err()
}

// outbox sends one stream's deliveries in order, from a goroutine of its
// own: each delivery's audit record commits before its message leaves
// (deliveries waiting together are audited together, one group commit),
// and nothing more is sent after one fails (fail closed). Between the
// reader that puts deliveries in and the consumer sits a bounded queue,
// whose bytes beyond the stream's allowance come out of the Streams
// budget; a consumer that leaves it full for Stall, or would take it past
// the budget, is told to come back with its cursor.
type outbox struct {
	streams *Streams
	domain  string
	stall   time.Duration
	queue   chan outItem
	errc    chan error
	quit    chan struct{}
	// mu guards the bytes queued (in memory; and of messages, wire), how
	// many of them came out of the budget, and whether the outbox is
	// closed (after which nothing more is taken from the budget or given
	// back to it). Whether the consumer is behind is judged by the
	// messages' bytes, as before the budget counted memory.
	mu                           sync.Mutex
	queued, queuedWire, reserved int64
	closed                       bool
	// auditing: the sender is writing a batch's records; pending: the
	// ids of records written whose messages are not sent yet; sending: the
	// first of them is being sent.
	auditing, sending bool
	// sendStart: when the send in progress began; caughtUp: when the
	// consumer last had nothing left to take (the stream's start, at first).
	sendStart, caughtUp time.Time
	pending             []int64
	cond                *sync.Cond
	progress            chan struct{}
	lastSent            atomic.Pointer[string]
}

// outItem is one delivery: its message, its cursor, and its audit record.
type outItem struct {
	msg    proto.Message
	cursor string
	entry  *audit.Entry
	// size is what it holds in memory (its wire size and itemOverhead);
	// wire, its message's size.
	size, wire int64
	queued     time.Time
}

// itemOverhead is what a queued delivery holds in memory beyond its
// message's wire size (the message, its cursor and its audit entry as Go
// values): the budget counts memory, which is what it bounds.
const itemOverhead = 1024

// newOutbox starts sending on send; cursor is where the stream starts.
// stall, when not zero, replaces the streams' Stall.
func newOutbox(ctx context.Context, s *Streams, domain, cursor string, depth int, stall time.Duration, send func(proto.Message) error) *outbox {
	if stall == 0 {
		stall = s.Stall
	}
	o := &outbox{streams: s, domain: domain, stall: stall, queue: make(chan outItem, depth), errc: make(chan error, 1), quit: make(chan struct{})}
	o.cond = sync.NewCond(&o.mu)
	o.caughtUp = time.Now()
	o.progress = make(chan struct{}, 1)
	o.lastSent.Store(&cursor)
	go func() {
		if err := o.run(ctx, send); err != nil {
			o.errc <- err
		}
	}()
	return o
}

// close stops the sender and gives back to the budget what the queue
// still holds. It waits for an audit in progress, but not for a send: a
// consumer that does not read blocks it until the call ends, which is
// when the handler has returned (after close). The sender sends nothing
// more once it sees the outbox closed. Deliveries recorded but not sent
// are named in the stream's own end record.
func (o *outbox) close(ctx context.Context) {
	close(o.quit)
	o.mu.Lock()
	o.closed = true
	for o.auditing {
		o.cond.Wait()
	}
	o.streams.release(o.reserved)
	o.reserved, o.queued, o.queuedWire = 0, 0, 0
	unsent, inSend := slices.Clone(o.pending), o.sending
	o.mu.Unlock()
	if len(unsent) == 0 {
		return
	}
	audit.FromContext(ctx).Ended(unsentNote(unsent, inSend))
}

// unsentNote says which deliveries were recorded but not sent: how many,
// and in which records (one record may hold several deliveries, the last
// of which were not sent).
func unsentNote(unsent []int64, inSend bool) string {
	var ids []string
	for i, id := range unsent {
		if i == 0 || id != unsent[i-1] {
			ids = append(ids, strconv.FormatInt(id, 10))
		}
	}
	first := ""
	if inSend {
		first = "; the first was being sent"
	}
	return fmt.Sprintf("deliveries recorded but not sent (the stream ended first%s): %d, of records %s", first, len(unsent), strings.Join(ids, ","))
}

// take counts n more bytes queued, taking from the budget what passes
// the allowance; false when the budget has not got it.
func (o *outbox) take(n, wire int64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	if over := o.queued + n - o.streams.Allowance; over > 0 {
		need := min(over, n)
		if !o.streams.reserve(need) {
			return false
		}
		o.reserved += need
	}
	o.queued += n
	o.queuedWire += wire
	return true
}

// behind reports whether the consumer has not yet taken what the stream
// holds beyond half its allowance: then the reader reads small windows,
// so that a stream whose consumer stalls holds little besides its queue.
func (o *outbox) behind() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.queuedWire > o.streams.Allowance/2
}

// sentLocked counts n bytes delivered, giving back to the budget first,
// and tells a reader waiting for room.
func (o *outbox) sentLocked(n, wire int64) {
	select {
	case o.progress <- struct{}{}:
	default:
	}
	o.queued -= n
	o.queuedWire -= wire
	if o.queued == 0 {
		o.caughtUp = time.Now()
	}
	if over := o.reserved - max(o.queued-o.streams.Allowance, 0); over > 0 {
		o.reserved -= over
		o.streams.release(over)
	}
}

func (o *outbox) isClosed() bool {
	select {
	case <-o.quit:
		return true
	default:
		return false
	}
}

// consumerStalled reports whether the sender has been blocked sending to
// the consumer for at least d: the consumer takes nothing. A stream
// waiting for its own audit records is not the consumer's doing.
func (o *outbox) consumerStalled(d time.Duration) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sending && time.Since(o.sendStart) >= d
}

// tooSlow ends a stream whose consumer does not keep up.
func (o *outbox) tooSlow() error {
	o.streams.cut.WithLabelValues("too_slow").Inc()
	return resume(codes.ResourceExhausted, "WATCHER_TOO_SLOW", o.domain, "watcher too far behind", o.stop())
}

// shuttingDown ends a stream because the server is stopping.
func (o *outbox) shuttingDown() error {
	o.streams.cut.WithLabelValues("shutdown").Inc()
	return resume(codes.Unavailable, "SERVER_SHUTTING_DOWN", o.domain, "the server is shutting down", o.stop())
}

// sendSettle is how long stop waits for a send in progress to end.
const sendSettle = 100 * time.Millisecond

// stop sends nothing more and returns the cursor to resume from: that of
// the last message handed to the transport. A send in progress may have
// handed its message over without having returned yet: stop waits a
// moment for it. One still blocked after that waits for flow control,
// with nothing handed over, and fails once the call ends.
func (o *outbox) stop() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	for deadline := time.Now().Add(sendSettle); o.sending && time.Now().Before(deadline); {
		o.mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		o.mu.Lock()
	}
	return *o.lastSent.Load()
}

// put queues it, waiting up to Stall for room. While the streams' budget
// is spent, a stream whose consumer takes nothing for Pressure is told to
// come back with its cursor: stalled streams give the budget back to the
// live ones, which wait for their own consumer rather than being cut. It
// returns the error that ends the stream: the consumer too slow, the
// server shutting down, a failed send, or the call's end.
func (o *outbox) put(ctx context.Context, it outItem) error {
	if it.size == 0 {
		it.wire = int64(proto.Size(it.msg))
		it.size = it.wire + itemOverhead
	}
	it.queued = time.Now()
	select {
	case <-o.streams.Draining():
		return o.shuttingDown()
	default:
	}
	var stall *time.Timer
	defer func() {
		if stall != nil {
			stall.Stop()
		}
	}()
	for !o.take(it.size, it.wire) {
		if stall == nil {
			stall = time.NewTimer(o.stall)
		}
		pressure := time.NewTimer(o.streams.Pressure)
		select {
		case <-o.progress:
			pressure.Stop()
			continue
		case <-pressure.C:
			if !o.consumerStalled(o.streams.Pressure) {
				continue // waiting for our own audit records, not for the consumer
			}
			o.streams.cut.WithLabelValues("budget").Inc()
			return o.tooSlow()
		case <-stall.C:
			pressure.Stop()
			if !o.consumerStalled(o.stall / 2) {
				stall.Reset(o.stall / 2)
				continue
			}
			return o.tooSlow()
		case err := <-o.errc:
			pressure.Stop()
			return err
		case <-o.streams.Draining():
			pressure.Stop()
			return o.shuttingDown()
		case <-ctx.Done():
			pressure.Stop()
			return status.FromContextError(ctx.Err()).Err()
		}
	}
	select {
	case o.queue <- it:
		return nil
	default:
	}
	if stall == nil {
		stall = time.NewTimer(o.stall)
	}
	for {
		select {
		case o.queue <- it:
			return nil
		case <-stall.C:
			if !o.consumerStalled(o.stall / 2) {
				stall.Reset(o.stall / 2)
				continue
			}
			return o.tooSlow()
		case err := <-o.errc:
			return err
		case <-o.streams.Draining():
			return o.shuttingDown()
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

// wait blocks until wake, the end of the stream, or shutdown, and returns
// the error that ends the stream (nil on wake).
func (o *outbox) wait(ctx context.Context, wake <-chan struct{}) error {
	select {
	case <-wake:
		return nil
	case err := <-o.errc:
		return err
	case <-o.streams.Draining():
		return o.shuttingDown()
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

func (o *outbox) run(ctx context.Context, send func(proto.Message) error) error {
	// A stream audits at most group deliveries at a time, in one record
	// where they are recorded alike (audit.DeliverAll): the audit writer's
	// queue is first come, first served, and a thousand streams each
	// queueing a record per message put a live stream's one record behind
	// hundreds of thousands of others.
	const group = 64
	batch := make([]outItem, 0, group)
	entries := make([]*audit.Entry, 0, group)
	for {
		batch = batch[:0]
		select {
		case <-o.quit:
			return nil
		case it := <-o.queue:
			batch = append(batch, it)
		}
	fill:
		for len(batch) < group {
			select {
			case it := <-o.queue:
				batch = append(batch, it)
			default:
				break fill
			}
		}
		o.mu.Lock()
		if o.closed {
			o.mu.Unlock()
			return nil
		}
		o.auditing = true
		// A stream whose consumer is behind records its deliveries in the
		// writer's later lane, behind calls and live streams.
		// A consumer that had caught up within the last Pressure is reading:
		// a burst it has not taken yet does not put it behind the others.
		behind := o.queuedWire > o.streams.Allowance/2 && time.Since(o.caughtUp) > o.streams.Pressure
		o.mu.Unlock()
		entries = entries[:0]
		for _, it := range batch {
			entries = append(entries, it.entry)
		}
		failed := audit.DeliverAll(ctx, entries, behind)
		// What was recorded is pending until sent: if the stream ends
		// first, its end record says which deliveries were recorded but
		// not sent.
		o.mu.Lock()
		o.auditing = false
		o.pending = o.pending[:0]
		for _, it := range batch {
			// After a failure, those whose records committed are named
			// unsent by the stream's end record.
			if id := it.entry.RecordID(); id != 0 {
				o.pending = append(o.pending, id)
			}
		}
		o.cond.Broadcast()
		o.mu.Unlock()
		if failed != nil {
			return failed
		}
		for _, it := range batch {
			o.mu.Lock()
			if o.closed {
				o.mu.Unlock()
				return nil
			}
			o.sending, o.sendStart = true, time.Now()
			o.mu.Unlock()
			err := send(it.msg)
			o.mu.Lock()
			o.sending = false
			if err != nil {
				o.mu.Unlock()
				return err
			}
			o.pending = o.pending[1:]
			if o.streams.lag != nil {
				o.streams.lag.Observe(time.Since(it.queued).Seconds())
			}
			o.lastSent.Store(&it.cursor)
			o.sentLocked(it.size, it.wire)
			o.mu.Unlock()
		}
	}
}
