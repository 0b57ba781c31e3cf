// Command sinergifaults is `make faults`: the fault battery of
// internal/faults, one line per scenario with its counts.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sinergi-id/sinergi/internal/faults"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	binary := flag.String("sinergi", ".sinergi/bin/sinergi", "the server binary the scenarios run")
	only := flag.String("only", "", "comma-separated scenarios to run (default all): "+names())
	quick := flag.Bool("quick", false, "the smaller load of make test")
	stalled := flag.Int("stalled", 0, "stalled watchers in slow-consumers (default 200)")
	roster := flag.Int("roster", 0, "records of the roster in roster-kill9 (default 100000)")
	keep := flag.Bool("keep", false, "keep the run's directory (cluster data and logs, server logs) and databases for a look afterwards")
	flag.Parse()
	sz := faults.Full()
	if *quick {
		sz = faults.Quick()
	}
	if *stalled > 0 {
		sz.StalledWatchers = *stalled
	}
	if *roster > 0 {
		sz.RosterRecords = *roster
	}
	var list []string
	if *only != "" {
		list = strings.Split(*only, ",")
		for _, n := range list {
			if _, ok := faults.ScenarioByName(n); !ok {
				fmt.Fprintf(os.Stderr, "faults: no scenario %q (%s)\n", n, names())
				os.Exit(2)
			}
		}
	}
	h, err := faults.NewHarness(*binary, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
	h.Keep = *keep
	err = faults.Main(ctx, h, sz, list, os.Stdout)
	h.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
}

func names() string {
	var out []string
	for _, s := range faults.Scenarios {
		out = append(out, s.Name)
	}
	return strings.Join(out, ", ")
}
