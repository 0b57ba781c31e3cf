// Command sinergibenchscale is `make bench-scale`: the service at national
// scale (internal/benchscale). It prints one table of figures and targets,
// also written as flat JSON to BENCH_OUT (default .sinergi/bench-scale.json),
// and exits non-zero when a target is missed or a step fails.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/sinergi-id/sinergi/internal/bench"
	"github.com/sinergi-id/sinergi/internal/benchscale"
)

func main() {
	// As sinergibench: the load generator's long-lived data is re-marked
	// less often on the cores it shares with the server.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := benchscale.DefaultConfig()
	flag.StringVar(&cfg.Binary, "sinergi", ".sinergi/bin/sinergi", "the server binary to measure")
	flag.StringVar(&cfg.Out, "out", bench.EnvOr("BENCH_OUT", ".sinergi/bench-scale.json"), "JSON output (BENCH_OUT)")
	flag.IntVar(&cfg.Records, "records", cfg.Records, "custody records at full size")
	flag.IntVar(&cfg.AuditRecords, "audit-records", cfg.AuditRecords, "audit records at full size, over 24 months (the oldest a twentieth of them)")
	flag.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long each load runs")
	flag.BoolVar(&cfg.Profile, "profile", false, "save a server CPU profile of each load at full size in .sinergi/bench-scale-<figure>.pprof")
	flag.BoolVar(&cfg.Keep, "keep", false, "keep the database at the end (for EXPLAIN)")
	flag.Parse()
	if err := benchscale.Main(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(1)
	}
}
