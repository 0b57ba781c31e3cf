package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/pki"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// stalledPolice are the police units whose watchers stall: between them
// they see the events of the four facilities the step writes at.
var stalledPolice = []string{"mabes-polri", "polda-lampung", "polres-metro", "polda-metro-jaya", "polres-metro-jakarta-timur",
	"polda-jawa-tengah", "polres-cilacap", "polsek-nusakambangan", "polda-kalimantan-timur", "polres-kutai-kartanegara"}

// stalledFacilities write the events the stalled watchers are told of.
var stalledFacilities = []string{"lapas-metro", "lapas-cipinang", "lapas-permisan", "lapas-tenggarong"}

// StalledWatchers opens 1 000 custody watch streams that never read (100
// for each of the demo directory's ten police units), and one live one,
// has four facilities record court appearances that each of them is told
// of, and meanwhile measures delivery to a live watcher. The server must
// stay within 256 MiB, tell every stalled watcher to resume from its
// cursor, and keep the live watcher's latency.
func StalledWatchers(ctx context.Context, e *Env, r *Results, exclude []string, live func(*Results) error) error {
	const watchers = 1000
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conns := map[string]*grpc.ClientConn{}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	type stalled struct {
		stream sinergiv1.CustodyService_WatchCustodyEventsClient
	}
	streams := make([]stalled, 0, watchers)
	perInst := map[string]int{}
	for i := range watchers {
		code := stalledPolice[i%len(stalledPolice)]
		key := fmt.Sprint(code, "/", perInst[code]/50) // 50 streams a connection
		perInst[code]++
		conn, ok := conns[key]
		if !ok {
			conn = e.smallWindowConn(code)
			conns[key] = conn
		}
		st, err := sinergiv1.NewCustodyServiceClient(conn).WatchCustodyEvents(wctx, &sinergiv1.WatchCustodyEventsRequest{Access: analyst})
		if err != nil {
			return err
		}
		if _, err := st.Recv(); err != nil { // the starting cursor; then nothing more is read
			return fmt.Errorf("stalled watcher %d (%s): %w", i, code, err)
		}
		streams = append(streams, stalled{st})
	}

	var peak atomic.Int64
	sampling, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for sampling.Err() == nil {
			if kb := e.rssKB(); kb > peak.Load() {
				peak.Store(kb)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()

	// The facilities' writes: court appearances of people they hold.
	written := make(chan error, 1)
	var events atomic.Int64
	go func() {
		written <- e.courtAppearances(ctx, 1500, exclude, &events)
	}()
	var beside Results
	lerr := live(&beside)
	if err := <-written; err != nil {
		return err
	}

	// A watcher is told to resume once it has left its sends blocked for
	// the server's stall time (10 s): the writes may end sooner than that
	// for the streams blocked last, and reading them earlier would make
	// them live again. Wait (up to 30 s) until the server has ended every
	// custody watch stream, the live one having closed.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		m, err := e.scrape(ctx)
		if err != nil {
			return err
		}
		if m[`sinergi_open_streams{method="/sinergi.v1.CustodyService/WatchCustodyEvents"}`] == 0 {
			break
		}
	}

	// Every stalled watcher is told to resume; reading it now drains what
	// its connection holds, then its status.
	var told, other atomic.Int64
	var wg sync.WaitGroup
	var firstOther atomic.Pointer[error]
	for _, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, err := s.stream.Recv()
				if err == nil {
					continue
				}
				if resumable(err) {
					told.Add(1)
				} else {
					other.Add(1)
					firstOther.CompareAndSwap(nil, &err)
				}
				return
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cancel()
		<-done
	}
	stopSampling()
	<-sampled
	if lerr != nil {
		return lerr
	}
	if p := firstOther.Load(); p != nil {
		fmt.Fprintf(os.Stderr, "bench: a stalled watcher ended otherwise than told to resume: %v\n", *p)
	}
	r.Add(Figure{Key: "stalled_watchers_server_rss_mb", What: fmt.Sprintf("server resident memory with %d watchers that do not read, %d events written", watchers, events.Load()),
		Value: float64(peak.Load()) / 1024, Op: "<=", Target: 256, Unit: "MiB"})
	r.Add(Figure{Key: "stalled_watchers_told_to_resume", What: "of them, told to resume from their cursor (RESOURCE_EXHAUSTED WATCHER_TOO_SLOW)",
		Value: float64(told.Load()), Op: ">=", Target: watchers})
	for _, f := range beside.figures {
		f.Key = strings.Replace(f.Key, "_delivery_", "_delivery_beside_stalled_", 1)
		f.What = "the same, to a live watcher beside the stalled ones"
		r.Add(f)
	}
	return nil
}

// resumable reports whether err tells a watcher to come back with its cursor.
func resumable(err error) bool {
	if status.Code(err) != codes.ResourceExhausted {
		return false
	}
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == "WATCHER_TOO_SLOW" && info.GetMetadata()["cursor"] != "" {
			return true
		}
	}
	return false
}

// courtAppearances has each of the stalled watchers' facilities record n
// court appearances of people it holds (others than exclude's, whose
// deliveries the live watcher times), 16 at a time.
func (e *Env) courtAppearances(ctx context.Context, n int, exclude []string, count *atomic.Int64) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(stalledFacilities))
	for _, f := range stalledFacilities {
		rows, err := e.Store.Pool.Query(ctx, `SELECT id::text FROM custody_records WHERE facility_code = $1 AND status = 'HELD' AND NOT id::text = ANY($2) LIMIT 500`, f, exclude)
		if err != nil {
			return err
		}
		held, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if len(held) == 0 {
			return fmt.Errorf("no one held at %s", f)
		}
		conn := e.Conn(f)
		defer conn.Close()
		c := sinergiv1.NewCustodyServiceClient(conn)
		var next atomic.Int64
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1); i <= int64(n); i = next.Add(1) {
					_, err := c.RecordCustodyEvent(ctx, &sinergiv1.RecordCustodyEventRequest{RecordId: held[int(i)%len(held)], Event: &sinergiv1.CustodyEvent{
						Type: sinergiv1.CustodyEventType_CUSTODY_EVENT_TYPE_COURT_APPEARANCE, EffectiveTime: timestamppb.Now()}})
					if err != nil {
						errs <- fmt.Errorf("court appearance at %s: %w", f, err)
						return
					}
					count.Add(1)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	return errors.Join(func() []error {
		var all []error
		for err := range errs {
			all = append(all, err)
		}
		return all
	}()...)
}

// smallWindowConn connects as code with the smallest flow-control windows
// gRPC allows: a client that does not read holds little in flight.
func (e *Env) smallWindowConn(code string) *grpc.ClientConn {
	cfg, err := pki.ClientTLS(pki.Files{Cert: pki.ClientCertPath(e.PKIDir, code), Key: pki.ClientKeyPath(e.PKIDir, code), CA: pki.CACertPath(e.PKIDir)}, "127.0.0.1")
	if err != nil {
		panic(err)
	}
	conn, err := grpc.NewClient(e.Addr, grpc.WithTransportCredentials(credentialsTLS(cfg)),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		panic(err)
	}
	return conn
}

// rssKB is the server process's resident memory now (VmRSS), in KiB.
func (e *Env) rssKB() int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", e.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb
		}
	}
	return -1
}
