package cmd

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) logsCommand() *cobra.Command {
	var (
		device string
		demo   bool
	)
	cmd := &cobra.Command{
		Use:   "logs --device HOST",
		Short: "Print the log lines about one device",
		Long: `Print the log lines about one device, from the current log file and its
rotated backups (oldest first, .gz included). Every log line about a device
carries a device=HOST attribute (text format) or "device":"HOST" (JSON), so
grep works as well: grep 'device=WS-0042' ~/.local/state/rmm/logs/rmm.log

rmm --demo logs to rmm-demo.log beside it, so simulated hosts never show
up among the real fleet's lines; --demo reads that file instead.`,
		Example: `  rmm logs --device WS-0042
  rmm logs --demo --device WS-0042`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if device == "" {
				return exitError{2, errors.New("logs: --device HOST is required")}
			}
			// Close our own handle first so the current file is complete.
			file := a.cfg.Log.File
			if demo {
				file = demoLogFile(file)
			}
			files, err := logFiles(file)
			if err != nil {
				return err
			}
			n, err := grepDevice(files, device, a.stdout)
			if err != nil {
				return err
			}
			if n == 0 {
				fmt.Fprintf(a.stderr, "no log lines for device %s in %d file(s) under %s\n", device, len(files), file)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&device, "device", "", "hostname as rmm shows it")
	cmd.Flags().BoolVar(&demo, "demo", false, "read the demo's log (rmm-demo.log) instead of the real fleet's")
	return cmd
}
