package engine

// Exports: the console's :export (the devices in view) and
// :export-results (a run's per-device results) written to a file through
// the engine, so each one is authorized and audited like any request.
//
// Where the file goes depends on who asks. A console on this machine
// (local, cli) writes where its OS user asks: that user could write the
// file anyway. An SSH user is a person the server's OS account must not
// lend its file system to, so their exports go to their own directory
// under Options.ExportsDir, by file name only, and they fetch them with
// scp through the same SSH server (ui/sshserve).

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rmmhq/rmm/csvsafe"
	"github.com/rmmhq/rmm/engine/csvimport"
	"github.com/rmmhq/rmm/store"
)

// MaxExportsPerUser is how many export files an SSH user's directory
// keeps: after an export, the oldest beyond this are removed.
const MaxExportsPerUser = 50

// maxExportName bounds an export's file name.
const maxExportName = 128

// ExportFile writes devices (Devices set: :export) or a run's per-device
// results (Results set: :export-results) as CSV or JSON. Path is what the
// user typed: for an SSH user a plain file name in their export directory
// (see UserExportDir), which may replace only an earlier export of theirs;
// for a local or CLI user any path (a leading ~/ is their home). Files are
// written whole (a temporary file renamed over the target) with mode 0600.
// CSV cells that came from hosts or people are neutralised against
// formula injection (csvsafe). Viewers may export what they may see.
type ExportFile struct {
	Path    string
	Format  string // "csv" or "json"
	Devices []DeviceState
	Results []ActionResult
	RunID   string // the run the results are of, for the audit row
	// Command, with Results, writes a command run's results with their
	// groups (WriteCommandResults).
	Command *CommandRun
}

// ExportInfo is where an export went.
type ExportInfo struct {
	Path     string // the file written (absolute)
	Name     string // its name in the user's export directory (SSH), else the base name
	Rows     int
	Confined bool // written to the SSH user's export directory
	Pruned   []string
}

func (r ExportFile) results() bool { return r.Results != nil }

// Action implements Request.
func (r ExportFile) Action() string {
	if r.results() {
		return "actions.export"
	}
	return "devices.export"
}

// Permission implements Request: what a Viewer may see, they may export.
func (ExportFile) Permission() Permission { return PermFleetView }

// Mutating implements Request: it writes a file, so it is audited whether
// it succeeds or fails.
func (ExportFile) Mutating() bool { return true }

// Targets implements Request.
func (r ExportFile) Targets() []string { return []string{r.Path} }

// Details implements Request.
func (r ExportFile) Details() map[string]any {
	d := map[string]any{"format": r.Format, "rows": r.rows()}
	if r.RunID != "" {
		d["run"] = r.RunID
	}
	return d
}

func (r ExportFile) rows() int {
	if r.results() {
		return len(r.Results)
	}
	return len(r.Devices)
}

func (r ExportFile) run(_ context.Context, e *Engine, id Identity) (ExportInfo, error) {
	if r.Format != "csv" && r.Format != "json" {
		return ExportInfo{}, fmt.Errorf("export: format %q is not csv or json", r.Format)
	}
	write := func(w io.Writer) error {
		if r.results() && r.Command != nil {
			return WriteCommandResults(w, r.Format, *r.Command, r.Results)
		}
		if r.results() {
			return WriteResults(w, r.Format, r.Results)
		}
		return WriteDevices(w, r.Format, e.exportDevices(r.Devices))
	}
	if id.Via == ViaSSH {
		info, err := exportConfined(e.opts.ExportsDir, id.User, r.Path, r.rows(), write)
		if len(info.Pruned) > 0 {
			e.log.Info("old exports removed", "user", id.User, "files", info.Pruned, "kept", MaxExportsPerUser)
		}
		return info, err
	}
	p, err := expandHome(r.Path)
	if err != nil {
		return ExportInfo{}, fmt.Errorf("export to %s: %w", r.Path, err)
	}
	if p, err = filepath.Abs(p); err != nil {
		return ExportInfo{}, fmt.Errorf("export to %s: %w", r.Path, err)
	}
	if err := writeFileAtomic(p, write); err != nil {
		return ExportInfo{}, fmt.Errorf("export to %s: %w", r.Path, err)
	}
	return ExportInfo{Path: p, Name: filepath.Base(p), Rows: r.rows()}, nil
}

// expandHome turns a leading ~/ into the home directory, as a shell would.
func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
}

// UserExportDir is the export directory of an SSH user under root: one
// directory per user, named by the user's name in lower case (logins are
// case-insensitive). A name that cannot be a directory name safely is an
// error; no export is written for it.
func UserExportDir(root, user string) (string, error) {
	if root == "" {
		return "", errors.New("exports over SSH are off: no export directory is configured (ssh.exports_dir)")
	}
	name := strings.ToLower(user)
	if err := checkFileName(name); err != nil {
		return "", fmt.Errorf("user %q has no export directory: %w", user, err)
	}
	return filepath.Join(root, name), nil
}

// CheckExportName reports why name cannot be an export's file name in a
// user's export directory: it must be a plain file name (no directory,
// no "..", not hidden), of letters, digits, '.', '_', '-' and '+', at most
// 128 bytes.
func CheckExportName(name string) error { return checkFileName(name) }

func checkFileName(name string) error {
	switch {
	case name == "":
		return errors.New("empty file name")
	case len(name) > maxExportName:
		return fmt.Errorf("file name of %d bytes; at most %d", len(name), maxExportName)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("file name %q starts with a dot", name)
	case strings.ContainsAny(name, `/\`):
		return fmt.Errorf("give a file name, not a path: exports over SSH go to your export directory (got %q)", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '+') {
			return fmt.Errorf("file name %q: only letters, digits, '.', '_', '-' and '+' are allowed", name)
		}
	}
	return nil
}

// exportConfined writes an SSH user's export into their directory under
// root. Every file operation goes through an os.Root on that directory,
// so no name, link or race can reach outside it. The target may exist
// only as a regular file with one link (an earlier export of this user:
// nothing else writes there); a directory, a symbolic link or a hard link
// to another file is refused.
func exportConfined(root, user, name string, rows int, write func(io.Writer) error) (ExportInfo, error) {
	dir, err := UserExportDir(root, user)
	if err != nil {
		return ExportInfo{}, fmt.Errorf("export %s: %w", name, err)
	}
	if err := checkFileName(name); err != nil {
		return ExportInfo{}, fmt.Errorf("export %s: %w", name, err)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return ExportInfo{}, fmt.Errorf("export %s: %w", name, err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return ExportInfo{}, fmt.Errorf("export %s: %w", name, err)
	}
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return ExportInfo{}, fmt.Errorf("export %s: %s is not a directory", name, dir)
	}
	rt, err := os.OpenRoot(dir)
	if err != nil {
		return ExportInfo{}, fmt.Errorf("export %s: %w", name, err)
	}
	defer rt.Close()
	if err := replaceable(rt, name); err != nil {
		return ExportInfo{}, fmt.Errorf("export %s: %w", name, err)
	}
	tmp := "." + name + ".tmp-" + randomSuffix()
	f, err := rt.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return ExportInfo{}, fmt.Errorf("export %s: %w", name, err)
	}
	if err := fill(f, write); err != nil {
		_ = rt.Remove(tmp)
		return ExportInfo{}, fmt.Errorf("export %s: %w", name, err)
	}
	// Checked again just before the rename: the name may have changed
	// since (by rmm itself, in another session of the same user).
	if err := replaceable(rt, name); err != nil {
		_ = rt.Remove(tmp)
		return ExportInfo{}, fmt.Errorf("export %s: %w", name, err)
	}
	if err := rt.Rename(tmp, name); err != nil {
		_ = rt.Remove(tmp)
		return ExportInfo{}, fmt.Errorf("export %s: %w", name, err)
	}
	info := ExportInfo{Path: filepath.Join(dir, name), Name: name, Rows: rows, Confined: true}
	info.Pruned = pruneExports(rt, name)
	return info, nil
}

// replaceable reports why name in rt must not be replaced by an export.
func replaceable(rt *os.Root, name string) error {
	fi, err := rt.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s exists and is not a file an export wrote (%s); nothing replaced", name, fi.Mode().Type())
	}
	if n := linkCount(fi); n > 1 {
		return fmt.Errorf("%s exists with %d links, so it is not a file an export wrote; nothing replaced", name, n)
	}
	return nil
}

// pruneExports removes the oldest regular files of rt beyond
// MaxExportsPerUser, never keep; it returns their names. A failure only
// leaves files in place.
func pruneExports(rt *os.Root, keep string) []string {
	d, err := rt.Open(".")
	if err != nil {
		return nil
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return nil
	}
	type file struct {
		name string
		mod  time.Time
	}
	var files []file
	for _, en := range entries {
		if !en.Type().IsRegular() || strings.HasPrefix(en.Name(), ".") {
			continue
		}
		fi, err := en.Info()
		if err != nil {
			continue
		}
		files = append(files, file{en.Name(), fi.ModTime()})
	}
	if len(files) <= MaxExportsPerUser {
		return nil
	}
	slices.SortFunc(files, func(a, b file) int { return a.mod.Compare(b.mod) })
	var pruned []string
	for _, f := range files[:len(files)-MaxExportsPerUser] {
		if f.name == keep {
			continue
		}
		if rt.Remove(f.name) == nil {
			pruned = append(pruned, f.name)
		}
	}
	return pruned
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// fill writes through a buffer, syncs and closes f.
func fill(f *os.File, write func(io.Writer) error) error {
	bw := bufio.NewWriter(f)
	err := write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Chmod(0o600) // whatever the umask did
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeFileAtomic writes a file through a temporary file in the same
// directory and a rename, so a reader (or a crash) never sees half of it.
// The file gets mode 0600: an export holds fleet data.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	if err := fill(tmp, write); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return nil
}

// DeviceExportColumns are the columns of a device CSV export before the
// custom fields: every column rmm import reads, then the report columns
// (status, last seen, metrics, last error) it reads as nothing, so an
// export imports back unchanged (csvimport.WriteDevices).
func DeviceExportColumns() []string { return csvimport.ExportColumns() }

// WriteDevices writes devices as CSV (csvimport.WriteDevices: the
// columns rmm import reads, then the report columns and the custom
// fields) or JSON (an array of DeviceJSON, as rmm devices --json prints).
func WriteDevices(w io.Writer, format string, ds []store.Device) error {
	switch format {
	case "csv":
		return csvimport.WriteDevices(w, ds)
	case "json":
		out := make([]DeviceJSON, len(ds))
		for i, d := range ds {
			out[i] = NewDeviceJSON(d)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return fmt.Errorf("unknown export format %q", format)
}

// DeviceJSON is the stable JSON form of one device: rmm devices --json
// and the console's :export json.
type DeviceJSON struct {
	Hostname           string            `json:"hostname"`
	FQDN               string            `json:"fqdn"`
	IP                 string            `json:"ip"`
	MAC                string            `json:"mac"`
	Site               string            `json:"site"`
	Groups             []string          `json:"groups"`
	Tags               []string          `json:"tags"`
	OSName             string            `json:"os_name"`
	OSVersion          string            `json:"os_version"`
	Description        string            `json:"description"`
	Port               int               `json:"port"`
	Transport          string            `json:"transport"`
	CredentialID       string            `json:"credential_id"`
	Auth               string            `json:"auth"`
	CABundle           string            `json:"ca_bundle"`
	InsecureSkipVerify bool              `json:"insecure_skip_verify"`
	AllowUnencrypted   bool              `json:"allow_unencrypted"`
	Loop               string            `json:"loop"`
	Custom             map[string]string `json:"custom"`
	Status             string            `json:"status"`
	LastSeen           *time.Time        `json:"last_seen"`
	LastError          string            `json:"last_error"`
	CPUPct             *float64          `json:"cpu_pct"`
	MemPct             *float64          `json:"mem_pct"`
	DiskFreePct        *float64          `json:"disk_free_pct"`
}

// NewDeviceJSON is d as DeviceJSON: lists and maps never null, metrics
// and last_seen null until known, times UTC.
func NewDeviceJSON(d store.Device) DeviceJSON {
	j := DeviceJSON{
		Hostname: d.Hostname, FQDN: d.FQDN, IP: d.IP, MAC: d.MAC, Site: d.Site,
		Groups: nonNilStrings(d.Groups), Tags: nonNilStrings(d.Tags), OSName: d.OSName, OSVersion: d.OSVersion,
		Description: d.Description, Port: d.Port, Transport: d.Transport, CredentialID: d.CredentialID,
		Auth: d.Auth, CABundle: d.CABundle, InsecureSkipVerify: d.InsecureSkipVerify, AllowUnencrypted: d.AllowUnencrypted,
		Loop: "on", Custom: d.Custom, Status: d.Status, LastError: d.LastError,
	}
	if d.LoopOff {
		j.Loop = "off"
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

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// exportDevices are the stored devices behind states, with the live
// status and metrics the console showed: everything an import reads.
func (e *Engine) exportDevices(states []DeviceState) []store.Device {
	out := make([]store.Device, len(states))
	e.mu.RLock()
	defer e.mu.RUnlock()
	for i, st := range states {
		d := store.Device{Hostname: st.Hostname, Site: st.Site, OSName: st.OSName, OSVersion: st.OSVersion,
			Tags: st.Tags, Groups: st.Groups}
		if en, ok := e.devices[st.ID]; ok {
			d = en.dev
		}
		d.Status, d.LastSeen, d.LastError = string(st.Status), st.LastSeen, st.LastError
		d.HasMetrics, d.CPUPct, d.MemPct, d.DiskFreePct = st.HasMetrics, st.CPUPct, st.MemPct, st.DiskFreePct
		out[i] = d
	}
	return out
}

// ResultExportColumns are the columns of a results export (CSV header,
// JSON keys), in order.
func ResultExportColumns() []string {
	return []string{"host", "action", "status", "message", "exit_code", "attempts", "duration_ms", "started_at", "finished_at", "stdout", "stderr"}
}

// WriteResults writes per-device results as CSV (a header, one line per
// device) or JSON (an array of objects with the same keys; exit_code null
// when none). Times are RFC 3339 in UTC, empty when unknown. The message,
// stdout and stderr come from the managed host: CSV cells from hosts or
// people go through csvsafe.Cell.
func WriteResults(w io.Writer, format string, rs []ActionResult) error {
	switch format {
	case "csv":
		cw := csvsafe.NewWriter(w)
		if err := cw.Header(ResultExportColumns()); err != nil {
			return err
		}
		for _, r := range rs {
			exit := ""
			if r.ExitCode != nil {
				exit = strconv.Itoa(*r.ExitCode)
			}
			// Computed by rmm: status, exit code, attempts, duration, times.
			if err := cw.Row([]string{r.Host, r.Action, r.Status, r.Message, exit, strconv.Itoa(r.Attempts),
				strconv.FormatInt(r.Duration.Milliseconds(), 10), exportTime(r.StartedAt), exportTime(r.FinishedAt), r.Stdout, r.Stderr},
				2, 4, 5, 6, 7, 8); err != nil {
				return err
			}
		}
		return cw.Flush()
	case "json":
		type row struct {
			Host       string `json:"host"`
			Action     string `json:"action"`
			Status     string `json:"status"`
			Message    string `json:"message"`
			ExitCode   *int   `json:"exit_code"`
			Attempts   int    `json:"attempts"`
			DurationMS int64  `json:"duration_ms"`
			StartedAt  string `json:"started_at"`
			FinishedAt string `json:"finished_at"`
			Stdout     string `json:"stdout"`
			Stderr     string `json:"stderr"`
		}
		out := make([]row, len(rs))
		for i, r := range rs {
			out[i] = row{r.Host, r.Action, r.Status, r.Message, r.ExitCode, r.Attempts, r.Duration.Milliseconds(),
				exportTime(r.StartedAt), exportTime(r.FinishedAt), r.Stdout, r.Stderr}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return fmt.Errorf("unknown export format %q", format)
}

func exportTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
