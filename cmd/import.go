package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

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
  Loop                             on (default) or off: off never starts the resident
                                   PowerShell loop there (for an EDR that forbids it)
Any other column is kept as a custom field.

Every bad row is reported as FILE:LINE: field: reason. The file is imported
all-or-nothing: one bad row and nothing is written, unless --skip-invalid,
which imports the valid rows and counts the others as skipped. A cell may
hold at most 64 KiB (a longer one refuses the whole file) and no NUL byte
or other control character but tab and line breaks; hostname labels may
not start or end with '-'. The file is read row by row, so memory does
not grow with it; on a terminal a progress line shows the rows read.
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
			opts := csvimport.Options{SkipInvalid: skipInvalid}
			prog := a.importProgress(name, f)
			if prog != nil {
				opts.Progress = prog.show
			}
			stream := csvimport.NewStream(name, f, opts)
			res, err := a.importThroughEngine(cmd.Context(), id, name, stream)
			prog.done()
			problems := stream.Problems()
			out := importJSON{File: name, Added: res.Added, Updated: res.Updated, Skipped: res.Skipped, Problems: []string{}}
			for _, p := range problems {
				out.Problems = append(out.Problems, p.Error())
			}
			if n := stream.Omitted(); n > 0 {
				out.Problems = append(out.Problems, fmt.Sprintf("%s: ... and %d more %s", name, n, plural(n, "problem", "problems")))
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
				a.log.Warn("import rejected", "file", name, "problems", len(problems)+stream.Omitted(), "err", err)
				if re, ok := csvimport.Rejection(err); ok {
					return exitError{2, re} // the file's own message, not the layers it went through
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

// importThroughEngine streams the file's devices through the engine, so
// the import is authorized and audited like any other change. The
// engine loads no device list (neither the stored devices nor the new
// ones): it ends with the import, and memory stays bounded.
func (a *app) importThroughEngine(ctx context.Context, id engine.Identity, name string, stream *csvimport.Stream) (store.ImportResult, error) {
	db, err := a.openStore(ctx)
	if err != nil {
		return store.ImportResult{}, err
	}
	defer db.Close()
	opts := a.engineOptions(engine.Credential{})
	opts.NoDeviceList = true
	eng, err := engine.New(ctx, db, opts)
	if err != nil {
		return store.ImportResult{}, err
	}
	defer eng.Close()
	return engine.Call(ctx, eng, id, engine.ImportDevices{Source: name, Stream: stream})
}

// importProgress is the progress line of an import on a terminal
// (stderr): rows read and the share of the file, redrawn in place at
// most a few times a second. nil when stderr is not a terminal.
type importProgress struct {
	w     io.Writer
	name  string
	size  int64
	last  time.Time
	shown bool
}

func (a *app) importProgress(name string, f *os.File) *importProgress {
	tf, ok := a.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(tf.Fd())) {
		return nil
	}
	p := &importProgress{w: a.stderr, name: name}
	if fi, err := f.Stat(); err == nil {
		p.size = fi.Size()
	}
	return p
}

func (p *importProgress) show(rows int, bytes int64) {
	if time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last, p.shown = time.Now(), true
	pct := ""
	if p.size > 0 {
		pct = fmt.Sprintf(" (%d%%)", bytes*100/p.size)
	}
	fmt.Fprintf(p.w, "\rimporting %s: %s rows read%s ", p.name, thousands(rows), pct)
}

// done ends the progress line.
func (p *importProgress) done() {
	if p != nil && p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// thousands writes n with commas: 1,000,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
