// Command sinergictl is the command-line client of the Sinergi service.
// Run "sinergictl help" for its usage; internal/ctl is the whole program.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sinergi-id/sinergi/internal/ctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first Ctrl-C has asked the call to end, a second one
		// kills the process the usual way.
		<-ctx.Done()
		stop()
	}()
	code := ctl.Run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
