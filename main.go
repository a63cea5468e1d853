// Command rmm is a terminal console for remote monitoring and management
// of Windows fleets over WinRM. The command line lives in package cmd;
// this file only ties it to the process: signals, arguments, exit code.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rmmhq/rmm/cmd"
)

func main() {
	// SIGHUP too: a closed terminal or a dropped SSH connection ends rmm
	// the way q does, so the demo's temporary files go with it.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	code := cmd.Execute(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
