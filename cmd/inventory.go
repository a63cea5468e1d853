package cmd

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/engine"
)

// inventoryJSON is the stable --json form of rmm inventory.
type inventoryJSON struct {
	Hostname   string             `json:"hostname"`
	Categories []inventoryDocJSON `json:"categories"`
}

type inventoryDocJSON struct {
	Category    string     `json:"category"`
	CollectedAt *time.Time `json:"collected_at"` // null: never collected
	Cached      bool       `json:"cached"`
	Error       string     `json:"error"`
	Data        any        `json:"data"` // the stored document; null when never collected
}

func (a *app) inventoryCommand() *cobra.Command {
	var (
		categories []string
		asJSON     bool
		force      bool
	)
	cmd := &cobra.Command{
		Use:   "inventory HOST",
		Short: "Show a device's hardware, software, security and network inventory",
		Long: `Show a device's inventory: hardware (system, BIOS serial, processors, memory,
disks, volumes, video, network adapters, battery), software (OS, hotfixes,
installed applications from the Uninstall registry keys, services, startup
commands), security (Defender, firewall, BitLocker, TPM, local Administrators,
pending reboot, last update) and network (addresses, gateways, DNS, routes,
SMB shares, listening TCP ports).

A document collected less than 24 hours ago is shown from the database;
an older or missing one is collected from the host now (Operator or Admin,
with a WinRM credential as for rmm poll). --force collects again whatever
its age. A Viewer, or a run without a credential, sees what is stored.
A part the host cannot answer (no BitLocker module, no Defender) shows
as unavailable with the reason; it does not fail the category.

--category (repeatable, or comma-separated): hardware, software, security,
network; default all. patches (a Windows Update search: missing and
installed updates, see rmm patch) is collected only when named.

--json prints {"hostname": H, "categories": [{"category", "collected_at"
(RFC 3339 UTC, null when never collected), "cached" (true: from the
database), "error" ("" when none), "data" (the stored document, null when
never collected)}]}. The documents' members are the collector's (see the
README): arrays are always arrays, dates RFC 3339 UTC, enums numbers.`,
		Example: `  rmm inventory WS-0042
  rmm inventory WS-0042 --category software --json
  rmm inventory SRV-0003 --category security,network --force`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			host := args[0]
			var cats []string
			for _, c := range categories {
				for _, part := range strings.Split(c, ",") {
					if part = strings.TrimSpace(part); part != "" {
						cats = append(cats, strings.ToLower(part))
					}
				}
			}
			for _, c := range cats {
				if !slices.Contains(engine.InventoryCategories(), c) && c != engine.InventoryPatches {
					return exitError{2, fmt.Errorf("--category %q: use hardware, software, security, network or patches", c)}
				}
			}
			id, err := a.localIdentity(engine.ViaCLI)
			if err != nil {
				return err
			}
			collect := engine.CollectInventory{Host: host, Categories: cats, Force: force}
			if id.Role.Can(engine.PermDevicesPoll) {
				cred, vault, err := a.pollCredentials()
				switch {
				case err != nil && force:
					return err
				case err != nil:
					fmt.Fprintln(a.stderr, "note: no WinRM credential; showing what is stored")
				default:
					if vault != nil {
						defer vault.Close()
					}
					db, eng, err := a.openEngine(cmd.Context(), cred, vault, 0)
					if err != nil {
						return err
					}
					defer db.Close()
					defer eng.Close()
					return a.showInventory(cmd, eng, id, collect, host, asJSON)
				}
			}
			var req engine.Req[[]engine.InventoryDoc] = engine.GetInventory{Host: host, Categories: cats}
			if force {
				req = collect // refused for this role, and audited
			}
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				return a.showInventory(cmd, eng, id, req, host, asJSON)
			})
		},
	}
	cmd.AddCommand(a.inventoryQueryCommand(), a.inventoryCollectCommand())
	f := cmd.Flags()
	f.StringSliceVar(&categories, "category", nil, "hardware, software, security, network or patches (repeatable; default all but patches)")
	f.BoolVar(&asJSON, "json", false, "print a JSON object (stable fields, see above)")
	f.BoolVar(&force, "force", false, "collect from the host now, even when the stored document is fresh")
	return cmd
}

// showInventory runs the request and prints its documents.
func (a *app) showInventory(cmd *cobra.Command, eng *engine.Engine, id engine.Identity, req engine.Req[[]engine.InventoryDoc], host string, asJSON bool) error {
	docs, err := engine.Call(cmd.Context(), eng, id, req)
	if errors.Is(err, engine.ErrUnknownDevice) {
		return exitError{2, err}
	}
	if err != nil && len(docs) == 0 {
		return err
	}
	if len(docs) > 0 {
		host = docs[0].Hostname
	}
	if asJSON {
		j := inventoryJSON{Hostname: host, Categories: []inventoryDocJSON{}}
		for _, d := range docs {
			dj := inventoryDocJSON{Category: d.Category, Cached: d.Cached, Error: d.Error}
			if d.Collected() {
				at := d.CollectedAt.UTC()
				dj.CollectedAt, dj.Data = &at, d.Data
			}
			j.Categories = append(j.Categories, dj)
		}
		if werr := writeJSON(a.stdout, j); werr != nil {
			return werr
		}
		return err
	}
	for i, d := range docs {
		if i > 0 {
			fmt.Fprintln(a.stdout)
		}
		writeInventoryText(a.stdout, d)
	}
	return err
}

// writeInventoryText prints one document as ASCII sections.
func writeInventoryText(w io.Writer, d engine.InventoryDoc) {
	head := "== " + strings.ToUpper(d.Category) + " "
	switch {
	case d.Collected() && d.Cached:
		head += "(collected " + d.CollectedAt.UTC().Format("2006-01-02 15:04 UTC") + ", from the database) "
	case d.Collected():
		head += "(collected " + d.CollectedAt.UTC().Format("2006-01-02 15:04 UTC") + ") "
	}
	fmt.Fprintln(w, head+strings.Repeat("=", max(0, 72-len(head))))
	if d.Error != "" {
		fmt.Fprintln(w, "error: "+d.Error)
	}
	if !d.Collected() {
		fmt.Fprintln(w, "not collected yet (an Operator can collect it: rmm inventory "+d.Hostname+" --category "+d.Category+")")
		return
	}
	secs, err := engine.InventorySections(d.Category, d.Data)
	if err != nil {
		fmt.Fprintln(w, "unreadable: "+err.Error())
		return
	}
	for _, s := range secs {
		fmt.Fprintln(w)
		fmt.Fprintln(w, s.Title)
		if s.Note != "" {
			fmt.Fprintln(w, "  "+s.Note)
		}
		width := 0
		for _, f := range s.Fields {
			width = max(width, len(f[0]))
		}
		for _, f := range s.Fields {
			fmt.Fprintf(w, "  %-*s  %s\n", width, f[0], asciiOnly(f[1]))
		}
		if len(s.Header) > 0 {
			writeASCIITable(w, s.Header, s.Rows)
		}
	}
}

// writeASCIITable prints rows in columns sized to their content (capped,
// so one long value does not push the others off the screen).
func writeASCIITable(w io.Writer, header []string, rows [][]string) {
	const maxCol = 48
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = len(h)
	}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = min(max(widths[i], len(asciiOnly(c))), maxCol)
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		b.WriteString("  ")
		for i, c := range cells {
			c = asciiOnly(c)
			if len(c) > widths[i] {
				c = c[:widths[i]-3] + "..."
			}
			if i == len(cells)-1 {
				b.WriteString(c)
			} else {
				fmt.Fprintf(&b, "%-*s  ", widths[i], c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
}

// asciiOnly replaces what is not printable ASCII (the CLI prints ASCII
// only; hosts report names in any script).
func asciiOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}
