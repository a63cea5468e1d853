package cmd

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/filter"
	"github.com/rmmhq/rmm/store"
)

func (a *app) devicesCommand() *cobra.Command {
	var (
		asJSON, asCSV bool
		expr          string
	)
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List devices with their status and last metrics",
		Long: `List every device with its status (Online, Offline, Unknown), last
metrics and when it was last seen.

--filter EXPR keeps the devices that match the console's filter grammar
(free text, host: site: status: os: tag: group:, cpu>N mem>=N disk<N, !
or - to negate, quotes, sort:COLUMN or sort:-COLUMN for the order).

--csv prints the CSV rmm import reads: every column it reads (Hostname,
FQDN, IPAddress, MACAddress, Site, Groups, OSName, OSVersion, Tags,
Description, Port, Transport, CredentialId, Auth, CABundle,
InsecureSkipVerify, AllowUnencrypted, Loop), then Status, LastSeen, CPU,
Mem, DiskFree, LastError (which import reads as nothing) and one column
per custom field, so the file imports back unchanged.

--json prints a stable array of objects: hostname, fqdn, ip, mac, site,
groups, tags, os_name, os_version, description, port, transport,
credential_id, auth, ca_bundle, insecure_skip_verify, allow_unencrypted,
loop, custom, status, last_seen (RFC 3339 UTC or null), last_error,
cpu_pct, mem_pct, disk_free_pct (null until a poll succeeded).`,
		Example: `  rmm devices --filter "status:offline site:hq"
  rmm devices --filter "disk<10 sort:disk" --csv > low-disk.csv
  rmm devices --csv > all.csv && rmm import all.csv --dry-run   # nothing would change`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON && asCSV {
				return exitError{2, errors.New("devices: --json and --csv: pick one")}
			}
			f, err := filter.Parse(expr)
			if err != nil {
				return exitError{2, fmt.Errorf("devices: --filter: %w", err)}
			}
			if f.NeedsFacts() {
				// The device list is read from the database, without the
				// engine's inventory index: an inventory term would match
				// nothing here, so it is refused rather than answered wrong.
				return exitError{2, fmt.Errorf("devices: --filter %q: inventory terms (software:, service:, installed:, missing:, bitlocker:, firewall:, defender:, reboot:, uptime) are answered by rmm inventory query EXPR", expr)}
			}
			db, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			all, err := db.ListDevices(cmd.Context())
			if err != nil {
				return fmt.Errorf("devices: %w", err)
			}
			devs := filterDevices(all, f)
			switch {
			case asJSON:
				return engine.WriteDevices(a.stdout, "json", devs)
			case asCSV:
				return engine.WriteDevices(a.stdout, "csv", devs)
			}
			if len(devs) == 0 {
				fmt.Fprintln(a.stdout, "No devices. Add some with: rmm import FILE.csv (or try rmm --demo)")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "HOSTNAME\tSITE\tSTATUS\tCPU\tMEM\tDISK FREE\tLAST SEEN\tENDPOINT")
			now := time.Now()
			for _, d := range devs {
				cpu, mem, disk := "-", "-", "-"
				if d.HasMetrics {
					cpu, mem, disk = pct(d.CPUPct), pct(d.MemPct), pct(d.DiskFreePct)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Hostname, d.Site, d.Status,
					cpu, mem, disk, age(now, d.LastSeen), engine.Endpoint(d))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%d devices\n", len(devs))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array (stable fields, see above)")
	cmd.Flags().BoolVar(&asCSV, "csv", false, "print the CSV rmm import reads (see above)")
	cmd.Flags().StringVar(&expr, "filter", "", `only the devices matching EXPR, the console's filter (e.g. "status:offline site:hq")`)
	return cmd
}

// filterDevices keeps the devices f matches, in f's sort: order when it
// has one (else as listed: by hostname).
func filterDevices(all []store.Device, f filter.DeviceFilter) []store.Device {
	type kept struct {
		d  store.Device
		st engine.DeviceState
	}
	var out []kept
	for _, d := range all {
		st := engine.StateOf(d)
		if r := st.FilterRow(); f.Match(&r) {
			out = append(out, kept{d, st})
		}
	}
	if key, desc, ok := f.Sort(); ok {
		slices.SortStableFunc(out, func(a, b kept) int {
			c := compareDeviceKey(&a.st, &b.st, key)
			if desc {
				c = -c
			}
			return c
		})
	}
	devs := make([]store.Device, len(out))
	for i, k := range out {
		devs[i] = k.d
	}
	return devs
}

// compareDeviceKey orders two devices by a device sort key
// (filter.SortColumns): devices without metrics after those with.
func compareDeviceKey(a, b *engine.DeviceState, key string) int {
	metric := func(x, y float64) int {
		switch {
		case a.HasMetrics != b.HasMetrics:
			if a.HasMetrics {
				return -1
			}
			return 1
		}
		return cmp.Compare(x, y)
	}
	switch key {
	case "site":
		return cmp.Compare(strings.ToLower(a.Site), strings.ToLower(b.Site))
	case "status":
		return cmp.Compare(a.Status, b.Status)
	case "cpu":
		return metric(a.CPUPct, b.CPUPct)
	case "mem":
		return metric(a.MemPct, b.MemPct)
	case "disk":
		return metric(a.DiskFreePct, b.DiskFreePct)
	case "last_seen":
		return a.LastSeen.Compare(b.LastSeen)
	case "os":
		return cmp.Compare(a.OSName+" "+a.OSVersion, b.OSName+" "+b.OSVersion)
	}
	return cmp.Compare(strings.ToLower(a.Hostname), strings.ToLower(b.Hostname))
}

func pct(v float64) string { return fmt.Sprintf("%.1f%%", v) }

// age renders how long ago t was, in ASCII.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}
