package cmd

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/csvsafe"
	"github.com/rmmhq/rmm/engine"
)

func (a *app) collectionsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "collections",
		Aliases: []string{"collection"},
		Short:   "Saved dynamic device groups: list, show, add, rm",
		Long: `A collection is a name for a filter expression, kept current as devices
change: the console's grammar (host:, site:, status:, os:, tag:, group:,
cpu>, mem>, disk<, free text, ! or - to negate) extended to inventory facts:

  software:zoom                      an application whose name holds "zoom"
  software:zoom software.version<5.17    ... in a version older than 5.17
  service:Spooler=stopped            a service in a state
  installed:KB5034441  missing:KB5034441   the hotfix list has / lacks it
  bitlocker:off  firewall:off  defender:off  (on, off, unknown)
  reboot:pending  uptime>30d

Inventory terms read the last software and security inventory collected
(rmm inventory, the schedules); a device never inventoried matches none of
them. missing: and installed: read the software inventory's hotfix list
(Win32_QuickFixEngineering) until patch scans exist.

Collections are stored in the database (add, rm: Operator or Admin) or
defined in the config file (collections: name: expression); a name the
config defines is the config's, and add and rm refuse it. A collection is a
target: rmm run --collection NAME, rmm action run ... --filter, and in the
console the grid's :collection NAME view and the Collections pane.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(a.collectionsListCommand(), a.collectionsShowCommand(), a.collectionsAddCommand(), a.collectionsRmCommand())
	return cmd
}

func (a *app) collectionsListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the collections with their member counts",
		Long: `List every collection: name, members now, source (db or config) and
expression.

--json prints an array of {name, expr, description, source, created_by,
created_at, updated_at, members, inventory (it reads inventory facts),
pending (the inventory index was still loading), error (a config
expression that no longer parses)}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				cs, err := engine.Call(cmd.Context(), eng, id, engine.ListCollections{})
				if err != nil {
					return err
				}
				if asJSON {
					if cs == nil {
						cs = []engine.Collection{}
					}
					return writeJSON(a.stdout, cs)
				}
				if len(cs) == 0 {
					fmt.Fprintln(a.stdout, `No collections yet. Add one: rmm collections add "Zoom older than 5.17" 'software:zoom software.version<5.17'`)
					return nil
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "COLLECTION\tMEMBERS\tSOURCE\tEXPRESSION")
				for _, c := range cs {
					members := fmt.Sprint(c.Members)
					if c.Error != "" {
						members = "error: " + c.Error
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, members, c.Source, c.Expr)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the collections as JSON")
	return cmd
}

// collectionJSON is the stable --json form of rmm collections show.
type collectionJSON struct {
	engine.Collection
	Devices []collectionMember `json:"devices"`
}

type collectionMember struct {
	Hostname string     `json:"hostname"`
	Site     string     `json:"site"`
	Status   string     `json:"status"`
	OS       string     `json:"os"`
	LastSeen *time.Time `json:"last_seen"`
}

func (a *app) collectionsShowCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a collection and its members",
		Long: `Show a collection's expression and its members now, by hostname.

--json prints the collection's fields (see rmm collections list) and
devices: [{hostname, site, status, os, last_seen}].`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				m, err := engine.Call(cmd.Context(), eng, id, engine.GetCollection{Name: args[0]})
				if errors.Is(err, engine.ErrNoCollection) {
					return exitError{2, err}
				}
				if err != nil {
					return err
				}
				if asJSON {
					out := collectionJSON{Collection: m.Collection, Devices: []collectionMember{}}
					for _, d := range m.Devices {
						cm := collectionMember{Hostname: d.Hostname, Site: d.Site, Status: string(d.Status), OS: d.OSName}
						if !d.LastSeen.IsZero() {
							t := d.LastSeen.UTC()
							cm.LastSeen = &t
						}
						out.Devices = append(out.Devices, cm)
					}
					return writeJSON(a.stdout, out)
				}
				fmt.Fprintf(a.stdout, "%s: %s (%s, %d member(s))\n", m.Name, m.Expr, m.Source, m.Members)
				if m.Description != "" {
					fmt.Fprintln(a.stdout, m.Description)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "HOSTNAME\tSITE\tSTATUS\tOS")
				for _, d := range m.Devices {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Hostname, d.Site, d.Status, d.OSName)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the collection and its members as JSON")
	return cmd
}

func (a *app) collectionsAddCommand() *cobra.Command {
	var (
		description     string
		replace, asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "add NAME EXPRESSION",
		Short: "Save a collection (Operator or Admin)",
		Long: `Save NAME as a collection of the devices EXPRESSION matches (see rmm
collections --help for the grammar). A name is 1 to 64 printable
characters and ignores case; an existing one is refused unless --replace.
The expression is checked now: a bad term is named with what is wrong.
Prints the collection with its member count (--json: as rmm collections
list --json prints one).`,
		Example: `  rmm collections add "Zoom older than 5.17" 'software:zoom software.version<5.17'
  rmm collections add "No BitLocker" 'bitlocker:off -os:server' --description "laptops to encrypt"
  rmm collections add "Missing Jan CU" 'missing:KB5034441 os:"Windows 10"'`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				c, err := engine.Call(cmd.Context(), eng, id, engine.SaveCollection{Name: args[0], Expr: args[1], Description: description, Replace: replace})
				if err != nil {
					if errors.Is(err, engine.ErrDenied) {
						return err
					}
					return exitError{2, err}
				}
				if asJSON {
					return writeJSON(a.stdout, c)
				}
				fmt.Fprintf(a.stdout, "collection %s saved: %s (%d member(s) now)\n", c.Name, c.Expr, c.Members)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&description, "description", "", "what the collection is for")
	cmd.Flags().BoolVar(&replace, "replace", false, "replace a collection of the same name")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the saved collection as JSON")
	return cmd
}

func (a *app) collectionsRmCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove a stored collection (Operator or Admin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				_, err := engine.Call(cmd.Context(), eng, id, engine.RemoveCollection{Name: args[0]})
				if errors.Is(err, engine.ErrNoCollection) {
					return exitError{2, err}
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "collection %s removed\n", args[0])
				return nil
			})
		},
	}
}

func (a *app) inventoryQueryCommand() *cobra.Command {
	var (
		columns       []string
		asJSON, asCSV bool
	)
	cmd := &cobra.Command{
		Use:   "query EXPRESSION",
		Short: "Ask the stored inventory of every device: a filter expression as a table",
		Long: `Print the devices EXPRESSION matches (the collections grammar: see rmm
collections --help) as a table of --columns, from the stored inventory (no
host is asked anything). A software column (software, software.version)
gives one row per application the expression's software: terms accept on
each device, every application when it has none: "every host with its Zoom
version" is

  rmm inventory query 'software:zoom' --columns host,software,software.version

Columns: ` + queryColumnList() + `.
Default: host, site, status, os, and software, software.version when the
expression names software.

--csv prints a header and one line per row (cells from hosts neutralised
against formula injection); --json prints {expr, columns, rows (arrays of
strings in column order), devices (how many matched), took_us}.`,
		Example: `  rmm inventory query 'software:zoom software.version<5.17' --columns host,site,software.version
  rmm inventory query 'bitlocker:off -os:server' --csv > unencrypted.csv
  rmm inventory query 'uptime>30d' --columns host,uptime_days,reboot --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON && asCSV {
				return exitError{2, errors.New("--json and --csv: pick one")}
			}
			var cols []string
			for _, c := range columns {
				for _, part := range strings.Split(c, ",") {
					if part = strings.TrimSpace(part); part != "" {
						cols = append(cols, part)
					}
				}
			}
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				t, err := engine.Call(cmd.Context(), eng, id, engine.QueryInventory{Expr: args[0], Columns: cols})
				if err != nil {
					if errors.Is(err, engine.ErrDenied) {
						return err
					}
					return exitError{2, err}
				}
				switch {
				case asJSON:
					return writeJSON(a.stdout, t)
				case asCSV:
					cw := csvsafe.NewWriter(a.stdout)
					if err := cw.Header(t.Columns); err != nil {
						return err
					}
					for _, r := range t.Rows {
						if err := cw.Row(r); err != nil {
							return err
						}
					}
					return cw.Flush()
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, strings.ToUpper(strings.Join(t.Columns, "\t")))
				for _, r := range t.Rows {
					fmt.Fprintln(tw, strings.Join(r, "\t"))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "%d row(s), %d device(s)\n", len(t.Rows), t.Devices)
				return nil
			})
		},
	}
	cmd.Flags().StringSliceVar(&columns, "columns", nil, "columns, comma-separated (see above)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (see above)")
	cmd.Flags().BoolVar(&asCSV, "csv", false, "print CSV")
	return cmd
}

func queryColumnList() string {
	var names []string
	for _, c := range engine.QueryColumns() {
		names = append(names, c[0])
	}
	return strings.Join(names, ", ")
}

func (a *app) inventoryCollectCommand() *cobra.Command {
	var (
		categories []string
		maxAge     time.Duration
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "collect",
		Short: "Collect inventory from every device now (what the inventory schedules do)",
		Long: `Collect the --category documents (default software and security: what
collections and rmm inventory query read) from every device that is not
offline, a quarter of engine.throttle at a time, site by site. A device
whose documents are younger than --max-age is skipped (0: collect all).
Operator or Admin, with a WinRM credential as for rmm poll.

--json prints {categories, devices, collected, fresh, offline, failed,
errors_by_class, duration_ms}.`,
		Example: `  rmm inventory collect
  rmm inventory collect --category software --max-age 12h --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cats []string
			for _, c := range categories {
				for _, part := range strings.Split(c, ",") {
					if part = strings.TrimSpace(part); part != "" {
						cats = append(cats, strings.ToLower(part))
					}
				}
			}
			if len(cats) == 0 {
				cats = []string{engine.InventorySoftware, engine.InventorySecurity}
			}
			if maxAge < 0 {
				return exitError{2, fmt.Errorf("--max-age %s: must not be negative", maxAge)}
			}
			return a.withRunEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				r, err := engine.Call(cmd.Context(), eng, id, engine.CollectFleetInventory{Categories: cats, MaxAge: maxAge})
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, r)
				}
				fmt.Fprintf(a.stdout, "inventory %s of %d device(s) in %s: %d collected, %d fresh, %d offline, %d failed\n",
					strings.Join(r.Categories, ","), r.Devices, (time.Duration(r.DurationMS) * time.Millisecond).Round(time.Millisecond),
					r.Collected, r.Fresh, r.Offline, r.Failed)
				if r.Failed > 0 {
					return exitError{1, fmt.Errorf("%d device(s) failed (by class: %v)", r.Failed, r.Errors)}
				}
				return nil
			})
		},
	}
	cmd.Flags().StringSliceVar(&categories, "category", nil, "hardware, software, security or network (repeatable; default software and security)")
	cmd.Flags().DurationVar(&maxAge, "max-age", 0, "skip devices whose documents are younger than this (0: collect all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return cmd
}
