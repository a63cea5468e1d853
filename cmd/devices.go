package cmd

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/store"
)

// deviceJSON is the stable --json form of one device in rmm devices.
type deviceJSON struct {
	Hostname     string            `json:"hostname"`
	FQDN         string            `json:"fqdn"`
	IP           string            `json:"ip"`
	MAC          string            `json:"mac"`
	Site         string            `json:"site"`
	Groups       []string          `json:"groups"`
	Tags         []string          `json:"tags"`
	OSName       string            `json:"os_name"`
	OSVersion    string            `json:"os_version"`
	Description  string            `json:"description"`
	Port         int               `json:"port"`
	Transport    string            `json:"transport"`
	CredentialID string            `json:"credential_id"`
	Custom       map[string]string `json:"custom"`
	Status       string            `json:"status"`
	LastSeen     *time.Time        `json:"last_seen"`
	LastError    string            `json:"last_error"`
	CPUPct       *float64          `json:"cpu_pct"`
	MemPct       *float64          `json:"mem_pct"`
	DiskFreePct  *float64          `json:"disk_free_pct"`
}

func toDeviceJSON(d store.Device) deviceJSON {
	j := deviceJSON{
		Hostname: d.Hostname, FQDN: d.FQDN, IP: d.IP, MAC: d.MAC, Site: d.Site,
		Groups: nonNil(d.Groups), Tags: nonNil(d.Tags), OSName: d.OSName, OSVersion: d.OSVersion,
		Description: d.Description, Port: d.Port, Transport: d.Transport, CredentialID: d.CredentialID,
		Custom: d.Custom, Status: d.Status, LastError: d.LastError,
	}
	if j.Custom == nil {
		j.Custom = map[string]string{}
	}
	if !d.LastSeen.IsZero() {
		t := d.LastSeen.UTC()
		j.LastSeen = &t
	}
	if d.HasMetrics {
		cpu, mem, disk := d.CPUPct, d.MemPct, d.DiskFreePct
		j.CPUPct, j.MemPct, j.DiskFreePct = &cpu, &mem, &disk
	}
	return j
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (a *app) devicesCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List devices with their status and last metrics",
		Long: `List every device with its status (Online, Offline, Unknown), last
metrics and when it was last seen. --json prints a stable array of objects:
hostname, fqdn, ip, mac, site, groups, tags, os_name, os_version,
description, port, transport, credential_id, custom, status, last_seen
(RFC 3339 UTC or null), last_error, cpu_pct, mem_pct, disk_free_pct (null
until a poll succeeded).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			devs, err := db.ListDevices(cmd.Context())
			if err != nil {
				return fmt.Errorf("devices: %w", err)
			}
			if asJSON {
				out := make([]deviceJSON, len(devs))
				for i, d := range devs {
					out[i] = toDeviceJSON(d)
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
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
	return cmd
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
