// Package benchscale is `make bench-scale`: the service at national scale.
// It generates, straight into the tables, 3 000 000 custody records
// (300 000 held, the rest history) with names drawn from a realistic
// Indonesian distribution, and an audit trail of 20 000 000 records over
// the 24 monthly partitions the server keeps, with its Merkle log; it
// measures the lookups, searches and audit reads through the server over
// mutual TLS at a tenth, a third and all of the data (adding data between
// the three, never regenerating), and prints the growth of each figure
// (full over a tenth). At full size it also measures report submission,
// the drop of a month by retention under load, and the whole country's
// daily roster. The table and JSON are those of `make bench`
// (internal/bench).
package benchscale

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sinergi-id/sinergi/internal/bench"
	"github.com/sinergi-id/sinergi/internal/demodata"
)

// Config is what `make bench-scale` runs.
type Config struct {
	Binary, Out, StateDir string
	// Records custody records and AuditRecords audit records at full size.
	Records, AuditRecords int
	Duration              time.Duration
	// Profile: a server CPU profile of each load at full size, saved to
	// StateDir/bench-scale-<figure>.pprof.
	Profile bool
	// Keep leaves the database (sinergi_bench) in place at the end, for
	// EXPLAIN.
	Keep bool
}

// DefaultConfig is the sizes, 5 s per load.
func DefaultConfig() Config {
	return Config{Records: 3_000_000, AuditRecords: 20_000_000, Duration: 5 * time.Second, StateDir: ".sinergi"}
}

// Stage is one size measured.
type Stage struct {
	Name     string // "" at full size, else the key's suffix
	Fraction float64
}

// Stages are the three sizes, smallest first.
var Stages = []Stage{{"_at_tenth", 0.1}, {"_at_third", 1.0 / 3}, {"", 1}}

// Growth is how much a figure grew from a tenth of the data to all of it.
func Growth(tenth, full float64) float64 {
	if tenth <= 0 {
		return math.Inf(1)
	}
	return full / tenth
}

// growthTargets: the figures whose growth has a target, and the target.
var growthTargets = map[string]float64{
	"get_custody_record_c64_p99_ms":  1.2,
	"check_presence_c64_p99_ms":      1.2,
	"search_by_name_c16_p99_ms":      1.5,
	"list_subject_access_c16_p99_ms": 1.2,
	"list_audit_records_c16_p99_ms":  1.2,
}

// MonthCounts spreads n audit records over the Months partitions, oldest
// first: the oldest, which the retention step drops, holds a million of
// them (at n = 20 000 000), and the others share the rest evenly.
func MonthCounts(n int) []int {
	out := make([]int, Months)
	out[0] = n / 20
	for m := 1; m < Months; m++ {
		out[m] = (n - out[0]) / (Months - 1)
	}
	return out
}

// Main runs the whole benchmark.
func Main(ctx context.Context, cfg Config, out io.Writer) (err error) {
	start := time.Now()
	fmt.Fprintf(out, "sinergi bench-scale on %s\n", bench.Machine())
	e, err := bench.Setup(ctx, cfg.StateDir)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	defer func() {
		if cfg.Keep {
			e.StopServer()
			fmt.Fprintf(out, "database %s kept\n", e.DBName)
			return
		}
		e.Close(context.WithoutCancel(ctx))
	}()
	r := &results{Results: &bench.Results{}}
	now := time.Now()
	roster, err := seedNationalFacilities(ctx, e)
	if err != nil {
		return fmt.Errorf("national facilities: %w", err)
	}
	d, err := e.Store.LoadDirectory(ctx)
	if err != nil {
		return err
	}
	c := &Custody{seed: 22, now: now, roster: roster}
	for _, f := range demodata.FacilitiesOf(d.Institutions) {
		if strings.Contains(f.Code, nationalInfix) {
			continue
		}
		c.demo = append(c.demo, facility{Code: f.Code, Kind: strings.TrimPrefix(f.Kind.String(), "INSTITUTION_KIND_"), Region: f.Region})
	}
	t := &Trail{Keys: e.Keys, Seed: 14, Now: now, custody: c}
	perMonth := MonthCounts(cfg.AuditRecords)

	var failed []error
	step := func(name string, fn func() error) {
		t0 := time.Now()
		if err := fn(); err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", name, err))
			fmt.Fprintf(out, "  %-36s FAILED: %v\n", name, err)
			return
		}
		fmt.Fprintf(out, "  %-36s %6.1fs\n", name, time.Since(t0).Seconds())
	}
	haveRecords, have := 0, make([]int, Months)
	figures := map[string]map[string]float64{} // stage -> key -> value
	running := false
	for _, s := range Stages {
		records := int(float64(cfg.Records) * s.Fraction)
		want, add, audits := make([]int, Months), make([]int, Months), 0
		for m := range want {
			want[m] = int(float64(perMonth[m]) * s.Fraction)
			add[m] = want[m] - have[m]
			audits += want[m]
		}
		if running {
			if err := bench.Settle(ctx, e); err != nil {
				return err
			}
			e.StopServer()
			running = false
		}
		label := fmt.Sprintf("%d records, %d audit", records, audits)
		var genErr error
		step("generate to "+label, func() error {
			t0 := time.Now()
			genErr = addCustody(ctx, e.URL, c, haveRecords, records)
			if genErr == nil {
				genErr = t.Add(ctx, e.URL, add, records)
			}
			if genErr == nil {
				genErr = analyze(ctx, e.URL)
			}
			r.Add(bench.Figure{Key: "generate_s" + s.Name, What: "generating the data up to " + label, Value: time.Since(t0).Seconds(), Unit: "s"})
			return genErr
		})
		if genErr != nil {
			break
		}
		haveRecords, have = records, want
		if err := e.StartServer(ctx, cfg.Binary); err != nil {
			failed = append(failed, fmt.Errorf("server: %w", err))
			break
		}
		running = true
		m := &measure{e: e, r: r, cfg: cfg, stage: s, c: c, t: t, records: records, values: map[string]float64{}}
		figures[s.Name] = m.values
		for _, st := range m.steps() {
			if err := bench.Settle(ctx, e); err != nil {
				return err
			}
			step(st.name+strings.ReplaceAll(s.Name, "_", " "), func() error { return st.fn(ctx) })
		}
	}
	for key, target := range growthTargets {
		tenth, ok1 := figures["_at_tenth"][key]
		full, ok2 := figures[""][key]
		if ok1 && ok2 {
			r.Add(bench.Figure{Key: strings.TrimSuffix(key, "_ms") + "_growth", What: "full size over a tenth", Value: Growth(tenth, full), Op: "<=", Target: target, Unit: "x"})
		}
	}
	if running {
		if ps := e.PeakRSSMB(); ps > 0 {
			r.Add(bench.Figure{Key: "server_peak_rss_mb", What: "server peak resident memory", Value: ps, Unit: "MiB"})
		}
	}
	r.Add(bench.Figure{Key: "run_s", What: "the whole run", Value: time.Since(start).Seconds(), Op: "<=", Target: 1800, Unit: "s"})
	fmt.Fprintf(out, "\nfinished in %s\n\n", time.Since(start).Round(time.Second))
	r.Print(out)
	if err := r.WriteJSON(cfg.Out); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nfigures written to %s\n", cfg.Out)
	if len(r.missed) > 0 {
		failed = append(failed, fmt.Errorf("targets missed: %s", strings.Join(r.missed, ", ")))
	}
	return errors.Join(failed...)
}

// addCustody writes custody records [from, to) in two COPYs at once.
func addCustody(ctx context.Context, url string, c *Custody, from, to int) error {
	return parallel(ctx, 2, func(ctx context.Context, w int) error {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		mid := from + (to-from)/2
		if w == 0 {
			return c.CopyRecords(ctx, conn, from, mid)
		}
		return c.CopyRecords(ctx, conn, mid, to)
	})
}

// analyze refreshes the planner's statistics and writes the pages out, so
// that the loads start from a database at rest.
func analyze(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `ANALYZE custody_records; ANALYZE audit_records; ANALYZE audit_leaves; ANALYZE audit_nodes; CHECKPOINT`)
	return err
}

// profilePath is where the CPU profile of a figure's load goes.
func profilePath(cfg Config, key string) string {
	return filepath.Join(cfg.StateDir, "bench-scale-"+key+".pprof")
}

// results are bench.Results that also know which targets were missed.
type results struct {
	*bench.Results
	missed []string
}

func (r *results) Add(f bench.Figure) {
	r.Results.Add(f)
	if !f.Met() {
		r.missed = append(r.missed, f.Key)
	}
}
