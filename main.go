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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cmd.Execute(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
