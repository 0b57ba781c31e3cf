package bench

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Config is what `make bench` runs.
type Config struct {
	Binary   string
	Out      string
	People   int
	Duration time.Duration
	StateDir string
}

// DefaultConfig is the issue's: 300 000 people, 5 s per load.
func DefaultConfig() Config {
	return Config{People: 300000, Duration: 5 * time.Second, StateDir: ".sinergi"}
}

// Main runs every benchmark.
func Main(ctx context.Context, cfg Config, out io.Writer) error {
	start := time.Now()
	fmt.Fprintf(out, "sinergi bench on %s\n", Machine())
	e, err := Setup(ctx, cfg.StateDir)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	defer e.Close(context.WithoutCancel(ctx))
	r := &Results{}
	steps := []struct {
		name string
		fn   func() error
	}{
		{"audit group commit", func() error { return AuditGroupCommit(ctx, e, r, cfg.Duration) }},
		{"server", func() error { return e.StartServer(ctx, cfg.Binary) }},
	}
	steps = append(steps, dataSteps(ctx, e, r, cfg)...)
	steps = append(steps, struct {
		name string
		fn   func() error
	}{"audit verify", func() error { return AuditVerify(ctx, e, r) }})
	for _, s := range steps {
		t0 := time.Now()
		if err := s.fn(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(out, "  %-28s %6.1fs\n", s.name, time.Since(t0).Seconds())
	}
	r.Add(Figure{Key: "server_peak_rss_mb", What: "server peak resident memory", Value: e.PeakRSSMB(), Op: "<=", Target: 256, Unit: "MiB"})
	fmt.Fprintf(out, "\nfinished in %s\n\n", time.Since(start).Round(time.Second))
	r.Print(out)
	if err := r.WriteJSON(cfg.Out); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nfigures written to %s\n", cfg.Out)
	return nil
}
