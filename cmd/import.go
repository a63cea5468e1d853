package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
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
	var skipInvalid, asJSON, dryRun, includeDisabled bool
	cmd := &cobra.Command{
		Use:   "import FILE.csv",
		Short: "Add or update devices from a CSV file",
		Long: `Add or update devices from a CSV file. The header row decides the columns
(case-insensitive); devices are matched on hostname, case-insensitively.

Columns and aliases:
  Hostname | ComputerName | Name   required (or DNSHostName/FQDN: its first label)
  FQDN | DNSHostName
  IPAddress | IP | IPv4Address     IPv4 or IPv6
  MACAddress | MAC
  SiteId | Site                    site name (default: main)
  GroupId | Group | GroupIds       group names, comma or semicolon separated
  DistinguishedName                its OUs become groups (OU=Laptops,OU=London: London, Laptops)
  Enabled                          False leaves the row out (--include-disabled imports it)
  OSName | OperatingSystem
  OSVersion | OperatingSystemVersion   "10.0 (19045)" is read as 10.0.19045
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
  Status, LastSeen, CPU, Mem, DiskFree, LastError   what rmm devices --csv
                                   adds: read as nothing, so an export imports back unchanged
Any other column is kept as a custom field.

Get-ADComputer ... | Export-Csv files import as they are: the #TYPE first
line is skipped, DNSHostName, IPv4Address, OperatingSystem(Version),
DistinguishedName and Enabled are read as above. A semicolon- or
tab-delimited file (Excel in many locales) is detected from its header; a
UTF-16 file with its byte order mark (Out-File, > in Windows PowerShell
5.1) is converted. A leading ' before a value that starts like a formula
(as rmm's exports and spreadsheets write it) is dropped.

--dry-run reads the file and says what would change, device by device
(added, or each changed field with its old and new value), and whether
your role may make those changes; nothing is written.

Every bad row is reported as FILE:LINE: field: reason. The file is imported
all-or-nothing: one bad row and nothing is written, unless --skip-invalid,
which imports the valid rows and counts the others as skipped. A cell may
hold at most 64 KiB (a longer one refuses the whole file) and no NUL byte
or other control character but tab and line breaks; hostname labels may
not start or end with '-'. The file is read row by row, so memory does
not grow with it; on a terminal a progress bar shows the share read.
Exit status: 0 imported (or a dry run), 2 rejected (bad rows), 3 refused
for your role, 1 other errors.`,
		Example: `  rmm import devices.csv
  rmm import --dry-run adcomputers.csv
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
			opts := csvimport.Options{SkipInvalid: skipInvalid, IncludeDisabled: includeDisabled}
			prog := a.importProgress(name, f)
			if prog != nil {
				opts.Progress = prog.show
			}
			stream := csvimport.NewStream(name, f, opts)
			if dryRun {
				return a.previewImport(cmd.Context(), id, name, stream, prog, asJSON)
			}
			res, err := a.importThroughEngine(cmd.Context(), id, name, stream)
			prog.done()
			a.importNotes(name, stream)
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
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"file","added","updated","skipped","problems"} as JSON (with --dry-run: {"file","added","updated","unchanged","changes","more","refused","problems"})`)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say what the import would change, device by device; write nothing")
	cmd.Flags().BoolVar(&includeDisabled, "include-disabled", false, "import the rows an Enabled column marks False (disabled computer accounts)")
	return cmd
}

// importNotes says on stderr how the file was read when it was not plain
// comma-separated UTF-8 (UTF-16, semicolons, #TYPE, disabled accounts).
func (a *app) importNotes(name string, stream *csvimport.Stream) {
	for _, n := range stream.Notes() {
		fmt.Fprintf(a.stderr, "%s: %s\n", name, n)
	}
}

// previewJSON is rmm import --dry-run --json.
type previewJSON struct {
	File string `json:"file"`
	engine.ImportPreview
	Problems []string `json:"problems"`
}

// maxPreviewLines bounds the devices a dry run prints (the JSON has
// engine.MaxPreviewChanges).
const maxPreviewLines = 200

// previewImport is rmm import --dry-run: what would change, nothing
// written.
func (a *app) previewImport(ctx context.Context, id engine.Identity, name string, stream *csvimport.Stream, prog *importProgress, asJSON bool) error {
	db, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	opts := a.engineOptions(engine.Credential{})
	opts.NoDeviceList = true
	eng, err := engine.New(ctx, db, opts)
	if err != nil {
		return err
	}
	defer eng.Close()
	p, err := engine.Call(ctx, eng, id, engine.PreviewImport{Source: name, Stream: stream})
	prog.done()
	a.importNotes(name, stream)
	var problems []string
	for _, pr := range stream.Problems() {
		problems = append(problems, pr.Error())
	}
	if err != nil {
		for _, pr := range problems {
			fmt.Fprintln(a.stderr, pr)
		}
		if re, ok := csvimport.Rejection(err); ok {
			return exitError{2, re}
		}
		return err
	}
	if asJSON {
		if p.Changes == nil {
			p.Changes = []engine.DeviceChanges{}
		}
		if problems == nil {
			problems = []string{}
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(previewJSON{File: name, ImportPreview: p, Problems: problems}); err != nil {
			return err
		}
	} else {
		for i, d := range p.Changes {
			if i == maxPreviewLines {
				fmt.Fprintf(a.stdout, "... and %d more devices (--json lists %d)\n", len(p.Changes)-i+p.More, engine.MaxPreviewChanges)
				break
			}
			if d.Added {
				fmt.Fprintf(a.stdout, "%s:%d: %s: add\n", name, d.Line, d.Hostname)
				continue
			}
			parts := make([]string, len(d.Changes))
			for j, c := range d.Changes {
				parts[j] = c.String()
			}
			fmt.Fprintf(a.stdout, "%s:%d: %s: %s\n", name, d.Line, d.Hostname, strings.Join(parts, "; "))
		}
		for _, pr := range problems {
			fmt.Fprintln(a.stderr, pr)
		}
		fmt.Fprintf(a.stdout, "%s: dry run: would add %d, update %d, leave %d unchanged, skip %d; nothing was written\n",
			name, p.Added, p.Updated, p.Unchanged, stream.Skipped())
	}
	if p.Refused != "" {
		fmt.Fprintf(a.stderr, "rmm: the import would be refused: %s\n", p.Refused)
		return exitError{3, errors.New("dry run: the import would be refused for your role")}
	}
	return nil
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
	fmt.Fprint(p.w, "\r"+progressBar(p.name, rows, bytes, p.size)+" ")
}

// progressBarWidth is the bar's width in characters.
const progressBarWidth = 30

// progressBar is the import's progress line: "importing FILE
// [#########.....................]  31%  120,000 rows", ASCII; without a
// known size, the rows only.
func progressBar(name string, rows int, bytes, size int64) string {
	if size <= 0 {
		return fmt.Sprintf("importing %s: %s rows read", name, thousands(rows))
	}
	pct := min(bytes*100/size, 100)
	filled := int(pct) * progressBarWidth / 100
	return fmt.Sprintf("importing %s [%s%s] %3d%%  %s rows", name, strings.Repeat("#", filled),
		strings.Repeat(".", progressBarWidth-filled), pct, thousands(rows))
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
