// Package bench is `make bench`: it sets up a database the way `make test`
// does, fills it with synthetic people, starts the sinergi server as its own
// process with a real mutual-TLS listener, drives it through the generated
// client, measures in the same run the floors it is compared with (a bare
// pgx client doing the same SQL, a bare COPY), and prints one table of
// figures with their targets, also written as flat JSON.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// Figure is one measured value.
type Figure struct {
	Key   string
	What  string
	Value float64
	// Target: "" when only reported; else ">= x" or "<= x".
	Op     string
	Target float64
	Unit   string
}

// Met reports whether the figure meets its target (true when it has none).
func (f Figure) Met() bool {
	switch f.Op {
	case ">=":
		return f.Value >= f.Target
	case "<=":
		return f.Value <= f.Target
	}
	return true
}

// Results collects figures in order.
type Results struct {
	mu      sync.Mutex
	figures []Figure
}

// Add records a figure.
func (r *Results) Add(f Figure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.figures = append(r.figures, f)
}

// Print writes the table.
func (r *Results) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tVALUE\tTARGET\tMET")
	for _, f := range r.figures {
		target, met := "reported", ""
		if f.Op != "" {
			target = fmt.Sprintf("%s %g", f.Op, f.Target)
			met = "yes"
			if !f.Met() {
				met = "NO"
			}
		}
		fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\n", f.Key, format(f.Value), f.Unit, target, met)
	}
	tw.Flush()
}

func format(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

// WriteJSON writes the figures as one flat object.
func (r *Results) WriteJSON(path string) error {
	m := map[string]float64{}
	for _, f := range r.figures {
		m[f.Key] = math.Round(f.Value*1000) / 1000
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Load runs fn from c goroutines for d (or n calls in all when n > 0) and
// returns the rate and latency percentiles.
type Load struct {
	Calls    int64
	Errors   int64
	Duration time.Duration
	lat      []time.Duration
	FirstErr error
}

// Rate is calls per second.
func (l *Load) Rate() float64 { return float64(l.Calls) / l.Duration.Seconds() }

// Percentile p (0-100) of the latencies, in milliseconds.
func (l *Load) Percentile(p float64) float64 {
	if len(l.lat) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(l.lat)))) - 1
	if i < 0 {
		i = 0
	}
	return float64(l.lat[i].Microseconds()) / 1000
}

// Run drives fn with c concurrent workers for d after a short warm-up.
func Run(ctx context.Context, c int, d time.Duration, fn func(ctx context.Context, worker int, i int64) error) *Load {
	warm, cancel := context.WithTimeout(ctx, d/5)
	runFor(warm, c, fn, nil)
	cancel()
	return runFor(ctx, c, fn, &d)
}

func runFor(ctx context.Context, c int, fn func(ctx context.Context, worker int, i int64) error, d *time.Duration) *Load {
	var calls, errs atomic.Int64
	// The first error, whatever its type (an atomic.Value panics on a
	// second error of another concrete type).
	var firstErr atomic.Pointer[error]
	lats := make([][]time.Duration, c)
	var stop atomic.Bool
	start := time.Now()
	if d != nil {
		t := time.AfterFunc(*d, func() { stop.Store(true) })
		defer t.Stop()
	}
	var wg sync.WaitGroup
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && ctx.Err() == nil {
				i := calls.Add(1)
				t0 := time.Now()
				if err := fn(ctx, w, i); err != nil {
					if ctx.Err() != nil {
						return
					}
					errs.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	l := &Load{Duration: time.Since(start), Errors: errs.Load()}
	for _, ls := range lats {
		l.lat = append(l.lat, ls...)
	}
	l.Calls = int64(len(l.lat))
	sort.Slice(l.lat, func(i, j int) bool { return l.lat[i] < l.lat[j] })
	if e := firstErr.Load(); e != nil {
		l.FirstErr = *e
	}
	return l
}

// Latencies summarises a set of latencies (ms) as p50/p99.
func Latencies(ds []time.Duration) (p50, p99 float64) {
	l := &Load{lat: append([]time.Duration(nil), ds...)}
	sort.Slice(l.lat, func(i, j int) bool { return l.lat[i] < l.lat[j] })
	return l.Percentile(50), l.Percentile(99)
}

// Machine describes the machine for the README.
func Machine() string {
	cpu := "unknown cpu"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %.0f GiB", float64(kb)/1024/1024)
	}
	return fmt.Sprintf("%d cores (%s)%s", numCPU(), cpu, mem)
}

// EnvOr is the environment's value of name, or def when it is unset or empty.
func EnvOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
