package engine

// Ad-hoc commands: PowerShell an operator types (rmm run, the console's
// !) run on every target through the same runner as actions (the bounded
// pool, the session pool and resident loop, retries, per-device rows and
// audit), then grouped by identical output. The text travels as every
// script does: base64 in one request line to the resident loop, never on
// a command line. It is stored once, on the run's row, and written in
// full to the audit log.
//
// Nothing is guessed from the text: any command on more than
// typedConfirmOver devices needs confirmation, as a destructive action
// does. A device that cannot be reached fails its part ("Device offline")
// instead of waiting in the offline queue: a question asked now is not
// worth answering days later.

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rmmhq/rmm/csvsafe"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// ActCommand is the action name of ad-hoc command runs in the runs and
// actions tables.
const ActCommand = "command"

// MaxCommandBytes bounds an ad-hoc command's text: 32 KiB. Its base64
// (about 43 KiB) then travels in one WinRM Send, under the client's 96
// KiB Send chunk and far under Windows' default MaxEnvelopeSizekb (500),
// and the whole text fits comfortably in the audit row written for every
// run. Longer scripts belong in the script library (rmm scripts add,
// 256 KiB), where they are versioned and reviewed.
const MaxCommandBytes = 32 << 10

// DefaultCommandTimeout is how long a command may run on one host when
// RunCommand sets no timeout; MaxCommandTimeout the longest it may ask.
const (
	DefaultCommandTimeout = time.Minute
	MaxCommandTimeout     = 24 * time.Hour
)

// ConfirmOver is the number of devices above which an ad-hoc command
// (any command: its effect is not guessed from its text) or a
// destructive action on them must be confirmed by typing the count.
const ConfirmOver = 10

// RunCommand runs PowerShell text on the target's devices. More than
// ConfirmOver devices need Confirmed, else the error is a *ConfirmError.
// exec returns RunInfo; the run goes on in the background (GetCommandRun
// reads it grouped by output).
type RunCommand struct {
	Script    string
	Target    RunTarget
	Confirmed bool
	Timeout   time.Duration // per host; 0: DefaultCommandTimeout
}

// Action implements Request.
func (RunCommand) Action() string { return "command.run" }

// Permission implements Request.
func (RunCommand) Permission() Permission { return PermActionsRun }

// Mutating implements Request.
func (RunCommand) Mutating() bool { return true }

// Targets implements Request.
func (r RunCommand) Targets() []string {
	if len(r.Target.Hosts) > 0 {
		return capTargets(append([]string(nil), r.Target.Hosts...))
	}
	return []string{r.Target.String()}
}

// Details implements Request: the whole text of the command, with the
// target and the options.
func (r RunCommand) Details() map[string]any {
	return map[string]any{"script": r.Script, "bytes": len(r.Script), "target": r.Target.String(),
		"confirmed": r.Confirmed, "timeout": r.Timeout.String()}
}

func (r RunCommand) run(ctx context.Context, e *Engine, id Identity) (RunInfo, error) {
	return e.startCommand(ctx, id, r)
}

// CheckCommand reports why text cannot be run as an ad-hoc command.
func CheckCommand(text string) error {
	switch {
	case strings.TrimSpace(text) == "":
		return errors.New("command: the text is empty")
	case len(text) > MaxCommandBytes:
		return fmt.Errorf("command: the text is %d bytes; at most %d (32 KiB): put longer scripts in the library (rmm scripts add)", len(text), MaxCommandBytes)
	case !utf8.ValidString(text):
		return errors.New("command: the text is not valid UTF-8")
	case strings.ContainsRune(text, 0):
		return errors.New("command: the text holds a NUL character")
	}
	return nil
}

// commandSpec is what a command run records as its action.
var commandSpec = ActionSpec{Name: ActCommand, Title: "Run command",
	Description: "PowerShell typed by an operator (rmm run, the console's !), grouped by output."}

// startCommand validates, records and starts a command run.
func (e *Engine) startCommand(ctx context.Context, id Identity, r RunCommand) (RunInfo, error) {
	if err := e.Fatal(); err != nil {
		return RunInfo{}, err
	}
	if err := CheckCommand(r.Script); err != nil {
		return RunInfo{}, err
	}
	timeout := r.Timeout
	if timeout == 0 {
		timeout = DefaultCommandTimeout
	}
	if timeout < time.Second || timeout > MaxCommandTimeout {
		return RunInfo{}, fmt.Errorf("command: timeout %s is out of range 1s..24h", r.Timeout)
	}
	devs, err := e.resolveTarget(ctx, r.Target)
	if err != nil {
		return RunInfo{}, fmt.Errorf("command: %w", err)
	}
	if len(devs) > ConfirmOver && !r.Confirmed {
		return RunInfo{}, &ConfirmError{Action: ActCommand, Title: commandSpec.Title, Devices: len(devs)}
	}
	plan := &runPlan{spec: commandSpec, command: true, params: map[string]string{"script": r.Script, "timeout": timeout.String()},
		sc: winrm.NewScript("command", r.Script), timeout: timeout, requestedBy: id.User}
	return e.launchRun(ctx, id, plan, devs, r.Target)
}

// commandOutcome reads a command's result as a library script's: exit 0
// without error records is Completed (the message is the last line of
// output: a one-row table's row), anything else Failed with the first
// error line.
func commandOutcome(res winrm.Result) actionOutcome { return libraryOutcome(res) }

// NormalizeOutput is a command's output as results are grouped by it:
// line endings made \n, trailing blanks cut from every line, blank lines
// cut from both ends; with mask, the host's name (and its first label,
// for a name with dots) replaced by "<host>" wherever it stands as a
// word, in any case.
func NormalizeOutput(s, host string, mask bool) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	for len(lines) > 0 && lines[0] == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	out := strings.Join(lines, "\n")
	if mask && host != "" {
		out = maskWord(out, host)
		if short, _, ok := strings.Cut(host, "."); ok && short != "" {
			out = maskWord(out, short)
		}
	}
	return out
}

// hostMask is what a masked host name reads.
const hostMask = "<host>"

// maskWord replaces every case-insensitive occurrence of word in s that
// is not part of a longer name (letters, digits, '-', '_' on either side).
func maskWord(s, word string) string {
	ls, lw := strings.ToLower(s), strings.ToLower(word)
	if len(ls) != len(s) || !strings.Contains(ls, lw) {
		return s // a case change altered the length (rare non-ASCII): leave it
	}
	var b strings.Builder
	last := 0
	for i := 0; i+len(lw) <= len(ls); {
		j := strings.Index(ls[i:], lw)
		if j < 0 {
			break
		}
		at := i + j
		end := at + len(lw)
		if (at == 0 || !nameByte(s[at-1])) && (end == len(s) || !nameByte(s[end])) {
			b.WriteString(s[last:at])
			b.WriteString(hostMask)
			last = end
			i = end
			continue
		}
		i = at + 1
	}
	b.WriteString(s[last:])
	return b.String()
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// outputKeys are a finished result's grouping keys: plain, and with the
// host's name masked. Results with the same status, the same message
// (when not Completed: an offline device, a timeout), the same
// normalised output and the same normalised errors share a key.
func outputKeys(out actionOutcome, host string) (plain, masked string) {
	key := func(mask bool) string {
		h := sha256.New()
		msg := ""
		if out.status != ActionCompleted {
			msg = NormalizeOutput(out.message, host, mask)
		}
		for _, part := range []string{out.status, msg, NormalizeOutput(out.stdout, host, mask), NormalizeOutput(out.stderr, host, mask)} {
			h.Write([]byte(part))
			h.Write([]byte{0})
		}
		return hex.EncodeToString(h.Sum(nil)[:16])
	}
	return key(false), key(true)
}

// finishCommandRow stores a command result with its grouping keys.
func (e *Engine) finishCommandRow(ctx context.Context, row store.ActionRow, out actionOutcome, host string) error {
	plain, masked := outputKeys(out, host)
	return e.db.FinishCommandAction(context.WithoutCancel(ctx), row, plain, masked)
}

// CommandRun is a command run with its results grouped by output. Its
// JSON form is the stable output of rmm run --json.
type CommandRun struct {
	RunSummary
	Script       string         `json:"script"`        // empty for a Viewer (ScriptHidden)
	ScriptHidden bool           `json:"script_hidden"` // the caller may not read it (the audit log holds it)
	Timeout      string         `json:"timeout"`
	Target       string         `json:"target"`
	MaskHost     bool           `json:"mask_host"`
	Groups       []OutputGroup  `json:"groups"` // biggest first
	Results      []CommandEntry `json:"results"`
}

// OutputGroup is the devices whose results were identical.
type OutputGroup struct {
	Status string `json:"status"`
	// Label is what sets the group apart, on one line: its output
	// without the lines every group shares (a table's header), or the
	// message of a failure.
	Label   string   `json:"label"`
	Message string   `json:"message"`
	Output  string   `json:"output"` // normalised; empty when not read (see OutputRead)
	Errors  string   `json:"errors"` // normalised stderr
	Count   int      `json:"count"`
	Hosts   []string `json:"hosts"`
	// SampleID is one member's result (GetActionResult).
	SampleID int64 `json:"sample_id"`
	// OutputRead is false for groups beyond the first MaxGroupsRead,
	// whose output is not read.
	OutputRead bool `json:"output_read"`
}

// CommandEntry is one device's result in a command run, without its
// output (GetActionResult reads that).
type CommandEntry struct {
	ID       int64  `json:"id"`
	DeviceID int64  `json:"device_id"`
	Host     string `json:"host"`
	Status   string `json:"status"`
	Message  string `json:"message"`
	Group    int    `json:"group"` // index in Groups
}

// MaxGroupsRead is how many groups' outputs GetCommandRun reads (the
// biggest first): a command whose output differs on every host (hostname
// without masking) would otherwise read every result.
const MaxGroupsRead = 100

// GetCommandRun reads a command run grouped by output; with MaskHost the
// devices' names are masked before outputs are compared. exec returns
// CommandRun.
type GetCommandRun struct {
	RunID    string
	MaskHost bool
}

// Action implements Request.
func (GetCommandRun) Action() string { return "command.get" }

// Permission implements Request.
func (GetCommandRun) Permission() Permission { return PermFleetView }

// Mutating implements Request.
func (GetCommandRun) Mutating() bool { return false }

// Targets implements Request.
func (r GetCommandRun) Targets() []string { return []string{r.RunID} }

// Details implements Request.
func (r GetCommandRun) Details() map[string]any {
	return map[string]any{"run": r.RunID, "mask_host": r.MaskHost}
}

func (r GetCommandRun) run(ctx context.Context, e *Engine, id Identity) (CommandRun, error) {
	return e.commandRun(ctx, id, r.RunID, r.MaskHost)
}

// commandRun reads and groups a command run.
func (e *Engine) commandRun(ctx context.Context, id Identity, runID string, mask bool) (CommandRun, error) {
	rc, err := e.db.GetRun(ctx, runID)
	if err != nil {
		return CommandRun{}, err
	}
	if rc.Action != ActCommand {
		return CommandRun{}, fmt.Errorf("run %s is a %s run, not a command: rmm action history --run %s shows it", runID, rc.Action, runID)
	}
	keys, err := e.db.RunOutputKeys(ctx, runID)
	if err != nil {
		return CommandRun{}, err
	}
	cr := CommandRun{RunSummary: runSummary(rc), Script: rc.Params["script"], Timeout: rc.Params["timeout"], Target: rc.Target,
		MaskHost: mask, Results: make([]CommandEntry, len(keys))}
	if !id.Role.Can(PermAuditView) {
		cr.Script, cr.ScriptHidden = "", true
	}
	idx := map[string]int{}
	for i, k := range keys {
		key := k.Plain
		if mask {
			key = k.Masked
		}
		if key == "" {
			key = "status:" + k.Status // not finished (or not recorded with keys): one group per status
		}
		g, ok := idx[key]
		if !ok {
			g = len(cr.Groups)
			idx[key] = g
			cr.Groups = append(cr.Groups, OutputGroup{Status: k.Status, Message: k.Message, SampleID: k.ActionID})
		}
		cr.Groups[g].Count++
		cr.Groups[g].Hosts = append(cr.Groups[g].Hosts, k.Host)
		cr.Results[i] = CommandEntry{ID: k.ActionID, DeviceID: k.DeviceID, Host: k.Host, Status: k.Status, Message: k.Message, Group: g}
	}
	order := make([]int, len(cr.Groups))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ga, gb := &cr.Groups[a], &cr.Groups[b]
		return cmp.Or(cmp.Compare(gb.Count, ga.Count), cmp.Compare(statusRank(ga.Status), statusRank(gb.Status)))
	})
	groups := make([]OutputGroup, len(order))
	where := make([]int, len(order))
	for to, from := range order {
		groups[to] = cr.Groups[from]
		where[from] = to
	}
	cr.Groups = groups
	for i := range cr.Results {
		cr.Results[i].Group = where[cr.Results[i].Group]
	}
	for i := range cr.Groups {
		g := &cr.Groups[i]
		if i >= MaxGroupsRead || g.Status == ActionPending || g.Status == ActionRunning {
			continue
		}
		row, err := e.db.GetActionRow(ctx, g.SampleID)
		if err != nil {
			return CommandRun{}, err
		}
		g.Output = NormalizeOutput(row.Stdout, row.Host, mask)
		g.Errors = NormalizeOutput(row.Stderr, row.Host, mask)
		g.Message = row.Message
		if mask {
			g.Message = NormalizeOutput(row.Message, row.Host, true)
		}
		g.OutputRead = true
	}
	labelGroups(cr.Groups)
	return cr, nil
}

// statusRank orders groups of equal size: finished ones first.
func statusRank(s string) int {
	switch s {
	case ActionCompleted:
		return 0
	case ActionFailed:
		return 1
	case ActionRunning:
		return 3
	case ActionPending:
		return 4
	}
	return 2
}

// maxLabel bounds a group's label.
const maxLabel = 160

// labelGroups gives each group its one-line label: for completed groups
// their output without a table's header (" Status / ------ / Running"
// reads "Running") and without the lines every completed group shares,
// the whole output when that leaves nothing; for the others their
// message.
func labelGroups(gs []OutputGroup) {
	var outs [][]string
	for i := range gs {
		if gs[i].Status == ActionCompleted && gs[i].OutputRead {
			outs = append(outs, tableRows(strings.Split(gs[i].Output, "\n")))
		}
	}
	common := map[string]bool{}
	if len(outs) > 1 {
		for _, l := range outs[0] {
			common[strings.TrimSpace(l)] = true
		}
		for _, o := range outs[1:] {
			in := map[string]bool{}
			for _, l := range o {
				in[strings.TrimSpace(l)] = true
			}
			for l := range common {
				if !in[l] {
					delete(common, l)
				}
			}
		}
	}
	for i := range gs {
		g := &gs[i]
		switch {
		case g.Status == ActionPending || g.Status == ActionRunning:
			g.Label = ""
			continue
		case !g.OutputRead:
			g.Label = "(output not read: more than " + fmt.Sprint(MaxGroupsRead) + " groups)"
			continue
		case g.Status != ActionCompleted:
			g.Label = oneLine(g.Message)
			continue
		}
		var keep, all []string
		for _, l := range tableRows(strings.Split(g.Output, "\n")) {
			t := strings.TrimSpace(l)
			if t == "" {
				continue
			}
			all = append(all, t)
			if !common[t] {
				keep = append(keep, t)
			}
		}
		if len(keep) == 0 {
			keep = all
		}
		g.Label = strings.Join(keep, " | ")
		if g.Label == "" {
			g.Label = "(no output)"
		}
		if len(g.Label) > maxLabel {
			cut := maxLabel - 3
			for cut > 0 && g.Label[cut]&0xC0 == 0x80 {
				cut--
			}
			g.Label = g.Label[:cut] + "..."
		}
	}
}

// tableRows leaves out a table's header: the lines up to a line of
// dashes (and spaces) among the first three, as PowerShell prints
// " Status" over " ------"; other output is returned as it is.
func tableRows(lines []string) []string {
	for i := 0; i < len(lines) && i < 3; i++ {
		l := strings.TrimSpace(lines[i])
		if l != "" && strings.Trim(l, "- ") == "" && i+1 < len(lines) {
			return lines[i+1:]
		}
	}
	return lines
}

// FormatOutputGroups renders groups as one line: "193 Running / 7
// Stopped / 10 Failed: Device offline (connection refused)".
func FormatOutputGroups(gs []OutputGroup) string {
	parts := make([]string, len(gs))
	for i, g := range gs {
		switch {
		case g.Status == ActionCompleted:
			parts[i] = fmt.Sprintf("%d %s", g.Count, g.Label)
		case g.Label != "":
			parts[i] = fmt.Sprintf("%d %s: %s", g.Count, g.Status, g.Label)
		default:
			parts[i] = fmt.Sprintf("%d %s", g.Count, g.Status)
		}
	}
	return strings.Join(parts, " / ")
}

// CommandExportColumns are the columns of a command run's export (CSV
// header, JSON keys of each result), in order.
func CommandExportColumns() []string {
	return []string{"host", "status", "group", "group_label", "group_size", "exit_code", "message", "stdout", "stderr"}
}

// commandExportRow is one device of a command export.
type commandExportRow struct {
	Host       string `json:"host"`
	Status     string `json:"status"`
	Group      int    `json:"group"` // 1 is the biggest group
	GroupLabel string `json:"group_label"`
	GroupSize  int    `json:"group_size"`
	ExitCode   *int   `json:"exit_code"`
	Message    string `json:"message"`
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
}

// commandExportRows joins a grouped run with its full results (by id).
func commandExportRows(cr CommandRun, full []ActionResult) []commandExportRow {
	byID := make(map[int64]*ActionResult, len(full))
	for i := range full {
		byID[full[i].ID] = &full[i]
	}
	out := make([]commandExportRow, len(cr.Results))
	for i, r := range cr.Results {
		g := cr.Groups[r.Group]
		row := commandExportRow{Host: r.Host, Status: r.Status, Group: r.Group + 1, GroupLabel: g.Label, GroupSize: g.Count, Message: r.Message}
		if a := byID[r.ID]; a != nil {
			row.ExitCode, row.Stdout, row.Stderr = a.ExitCode, a.Stdout, a.Stderr
		}
		out[i] = row
	}
	return out
}

// WriteCommandResults writes a command run's per-device results with
// their groups as CSV (a header, one line per device) or JSON (an object:
// the run's summary, script, target, groups, and results with the same
// keys as the CSV columns). full are the run's results with their
// outputs (GetRun); cells that came from hosts or people go through
// csvsafe.Cell.
func WriteCommandResults(w io.Writer, format string, cr CommandRun, full []ActionResult) error {
	rows := commandExportRows(cr, full)
	switch format {
	case "csv":
		cw := csvsafe.NewWriter(w)
		if err := cw.Header(CommandExportColumns()); err != nil {
			return err
		}
		for _, r := range rows {
			exit := ""
			if r.ExitCode != nil {
				exit = strconv.Itoa(*r.ExitCode)
			}
			// Computed by rmm: status, group number and size, exit code.
			if err := cw.Row([]string{r.Host, r.Status, strconv.Itoa(r.Group), r.GroupLabel, strconv.Itoa(r.GroupSize), exit,
				r.Message, r.Stdout, r.Stderr}, 1, 2, 4, 5); err != nil {
				return err
			}
		}
		return cw.Flush()
	case "json":
		doc := struct {
			CommandRun
			Results []commandExportRow `json:"results"`
		}{CommandRun: cr, Results: rows}
		if doc.Results == nil {
			doc.Results = []commandExportRow{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	return fmt.Errorf("unknown export format %q", format)
}
