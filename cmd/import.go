package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/csvimport"
	"github.com/rmmhq/rmm/store"
)

// importJSON is the stable --json output of rmm import.
type importJSON struct {
	File     string   `json:"file"`
	Added    int      `json:"added"`
	Updated  int      `json:"updated"`
	Skipped  int      `json:"skipped"`
	Problems []string `json:"problems"`
}

func (a *app) importCommand() *cobra.Command {
	var skipInvalid, asJSON bool
	cmd := &cobra.Command{
		Use:   "import FILE.csv",
		Short: "Add or update devices from a CSV file",
		Long: `Add or update devices from a CSV file. The header row decides the columns
(case-insensitive); devices are matched on hostname, case-insensitively.

Columns and aliases:
  Hostname | ComputerName | Name   required
  FQDN
  IPAddress | IP                   IPv4 or IPv6
  MACAddress | MAC
  SiteId | Site                    site name (default: main)
  GroupId | Group | GroupIds       group names, comma or semicolon separated
  OSName, OSVersion
  Tags                             comma list, quoted: "sql,prod"
  Description
  Port                             1..65535 (default 5986 https, 5985 http)
  Transport                        http or https (default https)
  CredentialId
  Auth                             basic, ntlm or kerberos (default basic)
  CABundle | CAFile                PEM file of the CAs trusted for the device's HTTPS certificate
  InsecureSkipVerify | SkipVerify  true: do not verify its certificate (logged, audited)
  AllowUnencrypted                 true: allow Basic/Kerberos over plain HTTP
  (true/false, yes/no, 1/0; an empty cell keeps the stored value)
Any other column is kept as a custom field.

Every bad row is reported as FILE:LINE: field: reason. The file is imported
all-or-nothing: one bad row and nothing is written, unless --skip-invalid,
which imports the valid rows and counts the others as skipped.
Exit status: 0 imported, 2 rejected (bad rows), 1 other errors.`,
		Example: `  rmm import devices.csv
  rmm import --skip-invalid --json devices.csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			f, err := os.Open(name)
			if err != nil {
				return exitError{2, fmt.Errorf("import: %w", err)}
			}
			defer f.Close()
			id, err := a.localIdentity(engine.ViaCLI)
			if err != nil {
				return err
			}
			devices, skipped, problems, perr := csvimport.Plan(name, f, csvimport.Options{SkipInvalid: skipInvalid})
			var res store.ImportResult
			err = perr
			if perr == nil {
				res, err = a.importThroughEngine(cmd.Context(), id, name, devices, skipped)
			}
			out := importJSON{File: name, Added: res.Added, Updated: res.Updated, Skipped: res.Skipped, Problems: []string{}}
			for _, p := range problems {
				out.Problems = append(out.Problems, p.Error())
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if jerr := enc.Encode(out); jerr != nil {
					return jerr
				}
			} else {
				for _, p := range out.Problems {
					fmt.Fprintln(a.stderr, p)
				}
			}
			if err != nil {
				a.log.Warn("import rejected", "file", name, "problems", len(problems), "err", err)
				if perr != nil {
					return exitError{2, err}
				}
				return err
			}
			a.log.Info("import", "file", name, "user", id.User, "added", res.Added, "updated", res.Updated, "skipped", res.Skipped)
			if !asJSON {
				fmt.Fprintf(a.stdout, "%s: added %d, updated %d, skipped %d\n", name, res.Added, res.Updated, res.Skipped)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&skipInvalid, "skip-invalid", false, "import the valid rows and skip the bad ones")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"file","added","updated","skipped","problems"} as JSON`)
	return cmd
}

// importThroughEngine writes the planned devices through the engine, so
// the import is authorized and audited like any other change.
func (a *app) importThroughEngine(ctx context.Context, id engine.Identity, name string, devices []store.DeviceInput, skipped int) (store.ImportResult, error) {
	db, err := a.openStore(ctx)
	if err != nil {
		return store.ImportResult{}, err
	}
	defer db.Close()
	eng, err := engine.New(ctx, db, a.engineOptions(engine.Credential{}))
	if err != nil {
		return store.ImportResult{}, err
	}
	defer eng.Close()
	res, err := engine.Call(ctx, eng, id, engine.ImportDevices{Source: name, Devices: devices, Skipped: skipped})
	if err != nil {
		return store.ImportResult{}, err
	}
	return res, nil
}
