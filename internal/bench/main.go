package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"
)

// Config is what `make bench` runs.
type Config struct {
	Binary   string
	Out      string
	People   int
	Duration time.Duration
	StateDir string
	// Only, when set, runs just the steps whose names contain one of these
	// (setup, the server and the people are always there).
	Only []string
	// Profile names a step during which a server CPU profile is saved to
	// .sinergi/<step>.pprof.
	Profile string
	// ProfileDelay is how long into the step the profile starts.
	ProfileDelay time.Duration
}

// DefaultConfig is the issue's: 300 000 people, 5 s per load.
func DefaultConfig() Config {
	return Config{People: 300000, Duration: 5 * time.Second, StateDir: ".sinergi"}
}

func wanted(only []string, name string) bool {
	if len(only) == 0 || name == "server" || name == "load demo people" {
		return true
	}
	for _, o := range only {
		if strings.Contains(name, o) {
			return true
		}
	}
	return false
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
	steps = append(steps, screeningSteps(ctx, e, r, cfg)...)
	steps = append(steps, []step{
		{"audit verify", func() error { return AuditVerify(ctx, e, r) }},
		{"audit log proofs", func() error { return AuditLogProofs(ctx, e, r, cfg.Binary, cfg.Duration) }},
	}...)
	var failed []error
	for _, s := range steps {
		if !wanted(cfg.Only, s.name) {
			continue
		}
		if e.cmd != nil {
			// Each step starts from a server at rest: the audit chain has
			// caught up with the step before.
			if err := settle(ctx, e); err != nil {
				return fmt.Errorf("before %s: %w", s.name, err)
			}
		}
		t0 := time.Now()
		if cfg.Profile != "" && strings.Contains(s.name, cfg.Profile) {
			path := filepath.Join(cfg.StateDir, strings.ReplaceAll(s.name, " ", "-")+".pprof")
			pctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go func() {
				select {
				case <-pctx.Done():
					return
				case <-time.After(cfg.ProfileDelay):
				}
				if err := e.Profile(pctx, 10*time.Second, path); err == nil {
					fmt.Fprintf(out, "  (CPU profile of the server during %q in %s)\n", s.name, path)
				}
			}()
		}
		if err := s.fn(); err != nil {
			// The steps that follow still run (the figures of the others
			// are not lost); the run fails at its end. Without a server
			// there is nothing more to measure.
			failed = append(failed, fmt.Errorf("%s: %w", s.name, err))
			fmt.Fprintf(out, "  %-28s FAILED: %v\n", s.name, err)
			if e.cmd == nil || s.name == "server" {
				break
			}
			continue
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
	return errors.Join(failed...)
}
