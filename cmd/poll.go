package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/engine"
)

func (a *app) pollCommand() *cobra.Command {
	var once, asJSON bool
	cmd := &cobra.Command{
		Use:   "poll",
		Short: "Poll devices headless and print a summary",
		Long: `Poll every device over WinRM: run the metrics script, store CPU, memory
and disk metrics, and set each device Online, Offline or Unknown.

With --once, one sweep and exit; otherwise a sweep every engine.poll_interval
until interrupted. A device that refuses, times out or cannot be reached is
Offline; one that rejects the credential or TLS setup is Unknown with the
reason in its last error (rmm devices).

--json prints one object per sweep:
  {"devices":N,"online":N,"offline":N,"unknown":N,"duration_ms":N,
   "metrics_written":N,"errors_by_class":{"device":N,...}}

Credentials: RMM_WINRM_USER and RMM_WINRM_PASSWORD.`,
		Example: `  RMM_WINRM_USER=rmm RMM_WINRM_PASSWORD=rmm-sim-password rmm poll --once --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withRunEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				ctx := cmd.Context()
				if eng.Summary().Devices == 0 {
					return exitError{2, errors.New("no devices to poll: add some with rmm import FILE.csv")}
				}
				for {
					res, err := engine.Call(ctx, eng, id, engine.PollNow{})
					if err != nil && ctx.Err() == nil {
						return err
					}
					if ctx.Err() != nil {
						return nil
					}
					if err := a.printSweep(res, asJSON); err != nil {
						return err
					}
					a.notifyAfterSweep(ctx, eng)
					if once {
						return nil
					}
					select {
					case <-ctx.Done():
						return nil
					case <-time.After(a.cfg.Engine.PollInterval - time.Duration(res.DurationMS)*time.Millisecond):
					}
				}
			})
		},
	}
	cmd.Flags().BoolVar(&once, "once", false, "one sweep, then exit")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print each sweep's summary as one JSON object")
	return cmd
}

func (a *app) printSweep(res engine.SweepResult, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(a.stdout).Encode(res)
	}
	fmt.Fprintf(a.stdout, "polled %d devices in %s: %d online, %d offline, %d unknown; %d metrics written\n",
		res.Devices, (time.Duration(res.DurationMS) * time.Millisecond).String(), res.Online, res.Offline, res.Unknown, res.MetricsWritten)
	if len(res.Errors) > 0 {
		classes := make([]string, 0, len(res.Errors))
		for c := range res.Errors {
			classes = append(classes, c)
		}
		slices.Sort(classes)
		parts := make([]string, len(classes))
		for i, c := range classes {
			parts[i] = fmt.Sprintf("%s %d", c, res.Errors[c])
		}
		fmt.Fprintf(a.stdout, "errors by class: %s (details: rmm devices)\n", strings.Join(parts, ", "))
	}
	return nil
}

// notifyAfterSweep sends the notifications a sweep's alert changes call
// for before a headless poll goes on (or exits): rmm poll --once from cron
// then notifies as a console would. Failures stay in the outbox.
func (a *app) notifyAfterSweep(ctx context.Context, eng *engine.Engine) {
	if !eng.NotifyOptions().Enabled() {
		return
	}
	res, err := engine.Call(ctx, eng, engine.SystemIdentity(), engine.FlushNotifications{})
	if err != nil {
		a.log.Warn("notifications after the sweep", "err", err)
		return
	}
	a.log.Info("notifications after the sweep", "routed", res.Routed, "sent", res.Sent, "retrying", res.Retrying, "failed", res.Failed)
}
