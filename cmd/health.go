package cmd

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/engine"
)

// healthJSON is the stable --json form of rmm health.
type healthJSON struct {
	Devices      int                `json:"devices"`
	ByStatus     map[string]int     `json:"by_status"`
	Scored       int                `json:"scored"`
	AverageScore *float64           `json:"average_score"`
	Worst        []deviceHealthJSON `json:"worst"`
}

type deviceHealthJSON struct {
	DeviceID int64            `json:"device_id"`
	Hostname string           `json:"hostname"`
	Site     string           `json:"site"`
	Score    int              `json:"score"`
	Status   string           `json:"status"`
	Because  string           `json:"because"` // why the status is worse than the score ("" when the score decides)
	Parts    []healthPartJSON `json:"parts"`
	// Availability: uptime_24h_pct and uptime_7d_pct (polls that worked),
	// latency_ms (the last TCP connect time); null when not known.
	Availability engine.Availability `json:"availability"`
}

type healthPartJSON struct {
	Name    string   `json:"name"`
	Score   int      `json:"score"`
	Max     int      `json:"max"`
	HasData bool     `json:"has_data"`
	Reasons []string `json:"reasons"`
}

func toHealthJSON(f engine.FleetHealth) healthJSON {
	j := healthJSON{Devices: f.Devices, ByStatus: map[string]int{}, Scored: f.Scored, Worst: []deviceHealthJSON{}}
	for s, n := range f.ByStatus {
		j.ByStatus[string(s)] = n
	}
	if f.Scored > 0 {
		avg := f.Average
		j.AverageScore = &avg
	}
	for _, d := range f.Worst {
		dj := deviceHealthJSON{DeviceID: d.DeviceID, Hostname: d.Hostname, Site: d.Site, Score: d.Score,
			Status: string(d.Status), Because: d.Because, Parts: []healthPartJSON{}, Availability: d.Availability}
		for _, p := range d.Parts {
			reasons := p.Reasons
			if reasons == nil {
				reasons = []string{}
			}
			dj.Parts = append(dj.Parts, healthPartJSON{Name: p.Name, Score: p.Score, Max: p.Max, HasData: p.HasData, Reasons: reasons})
		}
		j.Worst = append(j.Worst, dj)
	}
	return j
}

func (a *app) healthCommand() *cobra.Command {
	var (
		worst  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Fleet health: devices by status, average score, the worst with why",
		Long: `Score every device 0-100 from four parts, 25 points each: availability (polls
that worked in the last 24 h; 0 when offline), performance (the latest CPU,
memory and per-volume disk against their thresholds: warning costs 20% of the
part, critical 40%), security (Defender, signatures, firewall) and compliance
(pending reboot, updates, watched services). A part without data (security and
compliance until inventory is collected: rmm inventory) is shown as n/a and left out: the
score is scaled over the parts with data.

Status: Healthy (80-100), Warning (60-79), Critical (0-59), Offline, Unknown
(never polled, or rmm cannot manage it); an unresolved alert overrides the
score: a Critical alert makes the device Critical, a High one at most
Warning (because says which). The average is over the Healthy,
Warning and Critical devices; offline and unknown ones are counted, not
averaged. Then the --worst N devices with their breakdown.

--json prints an object with the stable fields: devices, by_status (Healthy,
Warning, Critical, Offline, Unknown: counts), scored, average_score (null
when none is scored), worst (array of device_id, hostname, site, score,
status, because, parts: array of name, score, max, has_data, reasons; availability:
uptime_24h_pct and uptime_7d_pct, the share of polls that worked, and
latency_ms, the last TCP connect time to the WinRM port, each null when
not known).`,
		Example: `  rmm health
  rmm health --worst 25
  rmm health --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if worst < 0 {
				return exitError{2, fmt.Errorf("--worst %d: want 0 or more", worst)}
			}
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				f, err := engine.Call(cmd.Context(), eng, id, engine.HealthReport{Worst: worst})
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, toHealthJSON(f))
				}
				var counts []string
				for _, s := range engine.HealthStatuses() {
					counts = append(counts, fmt.Sprintf("%d %s", f.ByStatus[s], s))
				}
				fmt.Fprintf(a.stdout, "%d devices: %s\n", f.Devices, strings.Join(counts, ", "))
				if f.Scored > 0 {
					fmt.Fprintf(a.stdout, "average score %.1f over %d scored devices\n", f.Average, f.Scored)
				} else {
					fmt.Fprintln(a.stdout, "no device scored yet (poll them: rmm poll --once)")
				}
				if len(f.Worst) == 0 {
					return nil
				}
				hostW, siteW := len("HOST"), len("SITE")
				for _, d := range f.Worst {
					hostW, siteW = max(hostW, len(d.Hostname)), max(siteW, len(d.Site))
				}
				fmt.Fprintf(a.stdout, "\nWORST %d\n%-*s  %-*s  SCORE  STATUS\n", len(f.Worst), hostW, "HOST", siteW, "SITE")
				for _, d := range f.Worst {
					fmt.Fprintf(a.stdout, "%-*s  %-*s  %5d  %s%s\n", hostW, d.Hostname, siteW, d.Site, d.Score, d.Status, uptimeText(d.Availability))
					if d.Because != "" {
						fmt.Fprintf(a.stdout, "    status %s: %s\n", d.Status, d.Because)
					}
					for _, p := range d.Parts {
						fmt.Fprintf(a.stdout, "    %s\n", p)
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&worst, "worst", 10, "list the N worst devices with their breakdown (0: every device)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON object (stable fields, see above)")
	return cmd
}

// uptimeText is "   up 99.3% 24h, 98.1% 7d" for the worst list; "" when
// nothing is known.
func uptimeText(a engine.Availability) string {
	if a.Uptime24h == nil {
		return ""
	}
	s := fmt.Sprintf("   up %.1f%% 24h", *a.Uptime24h)
	if a.Uptime7d != nil {
		s += fmt.Sprintf(", %.1f%% 7d", *a.Uptime7d)
	}
	return s
}
