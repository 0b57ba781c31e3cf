// Command sinergibench is `make bench`: it measures the service against the
// database's own floor and prints one table of figures and targets, also
// written as flat JSON to BENCH_OUT (default .sinergi/bench.json).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/sinergi-id/sinergi/internal/bench"
)

func main() {
	// The load generator holds every synthetic person's id, NIK and name
	// (some 50 MB that live all run); with Go's default GOGC it re-marked
	// them a few times a second on the cores it shares with the server it
	// measures. GOGC, when set, wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := bench.DefaultConfig()
	flag.StringVar(&cfg.Binary, "sinergi", ".sinergi/bin/sinergi", "the server binary to measure")
	flag.StringVar(&cfg.Out, "out", bench.EnvOr("BENCH_OUT", ".sinergi/bench.json"), "JSON output (BENCH_OUT)")
	flag.IntVar(&cfg.People, "people", cfg.People, "synthetic people in the database")
	flag.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long each load runs")
	only := flag.String("only", "", "comma-separated steps to run (e.g. \"get custody,sync roster\"); default all")
	flag.StringVar(&cfg.Profile, "profile", "", "save a 10 s server CPU profile during the step of this name")
	flag.DurationVar(&cfg.ProfileDelay, "profile-delay", 0, "start the profile this long into the step")
	flag.Parse()
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	if err := bench.Main(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
