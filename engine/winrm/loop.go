package winrm

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rmmhq/rmm/engine/psjson"
)

// The resident PowerShell loop (loop.ps1): one
// powershell.exe per pooled shell, fed one request per stdin line, so a
// warm poll costs one Send and one Receive and no powershell.exe start.
//
// Framing protocol (loop.ps1 and engine/winrmsim/loop.go follow the same;
// change all three together and bump the version):
//   - powershell.exe starts with loopBootstrap as its -EncodedCommand: a
//     few fixed lines that read the loop script (base64 of its UTF-8
//     text, marker line "# rmm:script=loop v3") from the first stdin
//     line and run it. On start the loop prints "READY loop v3" and
//     flushes.
//   - Request: one ASCII line "<id> <base64 of the UTF-8 script>", id
//     matching [A-Za-z0-9-]{1,64}, run in a fresh runspace; or (v3) "<id>
//     SESSION <cols> <base64>", run in the loop's session runspace, which
//     is kept from line to line (the PowerShell pane: variables,
//     functions and the location carry over) and formats its output
//     <cols> wide. The line "<id> EXIT" ends the loop cleanly (exit code
//     0); so does the end of stdin.
//   - The loop runs the script (see loop.ps1 for how exit, errors and the
//     streams are taken, as Windows PowerShell 5.1 behaves), then answers
//     with exactly three lines and a flush: "BEGIN <id>", the base64 of a
//     UTF-8 JSON document {"id":"..","output":"<stdout text>",
//     "errors":[".."],"warnings":[".."],"info":[".."],"exit":N,"ms":N,
//     "session":N}, "END <id>"; session is the session runspace's line
//     count with this one (1: it is new), 0 for a fresh runspace.
//   - The script is a normal rmm script with its marker line.
//
// The loop is started with WINRS_CONSOLEMODE_STDIN=FALSE and
// WINRS_SKIP_CMD_SHELL=TRUE, never with -Command - (which runs stdin
// statement by statement and can hang 5.1 on piped stdin).
//
// Scripts never travel on a command line (cmd.exe stops at 8,191
// characters, CreateProcess at 32,767): the command lines rmm starts are
// the two fixed bootstraps below, and every script goes over stdin.

const loopReadyLine = "READY loop v3"

// loopScript is the resident loop, sent as the first stdin line of the
// powershell.exe that loopBootstrap starts.
//
//go:embed loop.ps1
var loopScript string

// loopBootstrap is the -EncodedCommand of the resident loop's
// powershell.exe: it reads the loop script from the first stdin line and
// runs it. It is fixed, so the command line is the same on every host
// and for every rmm build with this loop version (an EDR allow-list can
// name it; README "Tested against").
const loopBootstrap = "# rmm:bootstrap=loop v3\n" +
	"$rmmLoop = [Console]::In.ReadLine()\n" +
	"if ($rmmLoop) { & ([scriptblock]::Create([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($rmmLoop)))) }\n"

// coldBootstrap is the -EncodedCommand of a powershell.exe that runs one
// script: it reads the script from stdin up to its end (Send with
// End="true") and runs it. It calls no .NET method, so it runs where
// PowerShell is in Constrained Language mode (AppLocker, WDAC), where
// the loop cannot start; `exit N` in the script is powershell.exe's exit
// code.
const coldBootstrap = "# rmm:bootstrap=stdin v1\n" +
	"$rmmScript = $input | Out-String\n" +
	"Invoke-Expression -Command $rmmScript\n"

// LoopCommandLine is the command line that starts the resident loop:
// always the same, whatever the scripts (see loopBootstrap).
func LoopCommandLine() string { return EncodedCommand(loopBootstrap) }

// ColdCommandLine is the command line of a script run as its own
// powershell.exe: always the same, the script goes over stdin.
func ColdCommandLine() string { return EncodedCommand(coldBootstrap) }

// loopStart is how a shell starts its resident loop: the command line and
// the first stdin line (the loop script).
type loopStart struct {
	cmdline string
	line    []byte // base64 of the loop script and a newline
}

// newLoopStart prepares the loop: its script with the full-line comments
// stripped (a smaller first Send), the marker line kept.
func newLoopStart() (loopStart, error) {
	if !strings.HasPrefix(loopScript, "# rmm:script=loop v") {
		return loopStart{}, errors.New("loop.ps1: the first line is not its marker line")
	}
	lines := strings.Split(loopScript, "\n")
	kept := lines[:1]
	for _, l := range lines[1:] {
		if t := strings.TrimSpace(l); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		kept = append(kept, strings.TrimRight(l, "\r"))
	}
	body := strings.Join(kept, "\n") + "\n"
	line := base64.StdEncoding.AppendEncode(nil, []byte(body))
	return loopStart{cmdline: LoopCommandLine(), line: slices.Clip(append(line, '\n'))}, nil
}

// loopAnswer is the JSON document of an answer frame. 5.1's ConvertTo-Json
// may unwrap a one-element errors array, so it is a List.
type loopAnswer struct {
	ID       string              `json:"id"`
	Output   string              `json:"output"`
	Errors   psjson.List[string] `json:"errors"`
	Warnings psjson.List[string] `json:"warnings"`
	Info     psjson.List[string] `json:"info"`
	Exit     int                 `json:"exit"`
	MS       int64               `json:"ms"`
	Session  int                 `json:"session"` // v3: the session runspace's lines, this one included; 0 for a fresh runspace
}

// LoopExitError is the resident loop ending without answering: it
// crashed, was killed, or never started (exit before READY).
type LoopExitError struct {
	Code    int    // powershell.exe's exit code
	Ready   bool   // it had printed READY (it ran, then died)
	Message string // the first line of what it wrote on stderr
}

func (e *LoopExitError) Error() string {
	what := "the resident PowerShell exited"
	if !e.Ready {
		what = "the resident PowerShell could not start"
	}
	s := fmt.Sprintf("%s with code %d before answering", what, e.Code)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// stderrMessage decodes what a command wrote on stderr into one line.
func stderrMessage(stderr []byte) string {
	st, err := DecodeStderr(string(stderr))
	if err != nil {
		return ""
	}
	msg := st.ErrorText()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return strings.TrimSpace(msg)
}

// pooledShell is one pooled WinRM shell and, in warm mode, the resident loop
// running in it. Only the goroutine that acquired it from the pool uses
// it; the pool reads lastUsed and the identity fields under its lock.
type pooledShell struct {
	ep       *endpoint
	ref      ShellRef // what OnShellCreate was told, for OnShellClosed
	shellID  string
	created  time.Time
	lastUsed time.Time
	uses     int // requests served, for the reuse counter
	// commands is how many Commands the shell has run: Windows counts
	// each against MaxConcurrentOperationsPerUser until the shell is
	// deleted, so the pool retires a shell after a number of them.
	commands int

	loop         *commandWire // the running loop command; nil when none
	loopReady    bool         // READY was seen
	loopStarted  time.Time
	loopRequests int

	running *commandWire // a command that has not reported Done (loop or cold); Signal targets it
	stdout  []byte       // loop output not yet consumed; nil between requests
	stderr  []byte
	stdin   []byte // the loop script, sent with the first request; nil once sent
}

// step errors say where a session operation failed, for the device error.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

func failed(step string, err error) error { return &stepError{step: step, err: err} }

// startLoop starts the resident loop in the shell. It does not wait for
// READY: the loop script and the first request go out in one Send at
// once and the loop reads them when it is up, so a cold poll costs one
// round trip less.
func (s *pooledShell) startLoop(ctx context.Context, ls loopStart) error {
	id, err := s.ep.startCommand(ctx, s.shellID, "loop", ls.cmdline)
	s.commands++
	if err != nil {
		return failed("start loop", err)
	}
	s.stdin = ls.line
	s.loop = newCommandWire(s.ep, s.shellID, id)
	s.running = s.loop
	s.loopReady = false
	s.loopStarted = time.Now()
	s.loopRequests = 0
	s.stdout, s.stderr = nil, nil
	return nil
}

// sessionMode is how a request runs: in a fresh runspace (width 0), or
// in the loop's session runspace with output that many columns wide.
type sessionMode struct{ width int }

// Session widths the loop accepts.
const (
	minSessionWidth = 20
	maxSessionWidth = 1000
)

// request runs one script through the loop and returns its answer; with
// mode.width set it runs in the loop's session runspace.
func (s *pooledShell) request(ctx context.Context, id string, sc *Script, mode sessionMode) (Result, error) {
	w := s.loop
	var prefix string
	if mode.width > 0 {
		prefix = "SESSION " + strconv.Itoa(min(max(mode.width, minSessionWidth), maxSessionWidth)) + " "
	}
	// The line is encoded into the Send's envelope, so its buffer goes
	// back to the pool as soon as send returns.
	lp := s.ep.buffer(len(s.stdin) + len(id) + len(prefix) + len(sc.b64) + 2)
	line := append((*lp)[:0], s.stdin...)
	s.stdin = nil
	line = append(line, id...)
	line = append(line, ' ')
	line = append(line, prefix...)
	line = append(line, sc.b64...)
	line = append(line, '\n')
	err := w.send(ctx, line, false)
	*lp = line
	s.ep.release(lp)
	if err != nil {
		return Result{}, failed("send", err)
	}
	s.loopRequests++
	end := []byte("END " + id)
	for {
		res, err := w.receive(ctx, &s.stdout, &s.stderr)
		if err != nil {
			return Result{}, failed("receive", err)
		}
		s.stderr = keepTail(s.stderr)
		if len(s.stdout) > maxStdout {
			s.stdout, s.stderr = nil, nil
			return Result{}, failed("receive", errOutputTooLarge)
		}
		if !s.loopReady {
			rest, ok := cutReady(s.stdout)
			if ok {
				s.loopReady = true
				s.stdout = append(s.stdout[:0], rest...)
			}
		}
		if s.loopReady && bytes.Contains(s.stdout, end) {
			ans, err := parseFrame(s.stdout, id)
			// Idle shells keep no buffers: 10,000 of them would hold
			// tens of megabytes.
			s.stdout, s.stderr = nil, nil
			if err != nil {
				return Result{}, failed("read answer", err)
			}
			return Result{Stdout: []byte(ans.Output), Errors: ans.Errors, Warnings: ans.Warnings, Info: ans.Info, Exit: ans.Exit, Mode: ModeWarm,
				SessionLines: ans.Session}, nil
		}
		if res.done {
			s.loop, s.running = nil, nil
			return Result{}, failed("receive", &LoopExitError{Code: res.exitCode, Ready: s.loopReady, Message: stderrMessage(s.stderr)})
		}
	}
}

// exitLoop ends the loop cleanly with an EXIT line and waits for it to
// finish; the shell stays.
func (s *pooledShell) exitLoop(ctx context.Context, id string) error {
	w := s.loop
	// s.stdin is the client's loop line, shared by every shell: copied,
	// never appended to.
	line := make([]byte, 0, len(s.stdin)+len(id)+6)
	line = append(append(line, s.stdin...), id+" EXIT\n"...)
	s.stdin = nil
	if err := w.send(ctx, line, false); err != nil {
		return failed("send", err)
	}
	for {
		res, err := w.receive(ctx, &s.stdout, &s.stderr)
		if err != nil {
			return failed("receive", err)
		}
		s.stdout, s.stderr = nil, nil
		if res.done {
			s.loop, s.running = nil, nil
			return nil
		}
	}
}

// runCold runs a script as its own powershell.exe in the shell and waits
// for it to finish: the fixed cold bootstrap on the command line, the
// script over stdin, ended with End="true". A finished command is not
// signalled.
func (s *pooledShell) runCold(ctx context.Context, sc *Script) (Result, error) {
	id, err := s.ep.startCommand(ctx, s.shellID, sc.name, ColdCommandLine())
	s.commands++
	if err != nil {
		return Result{}, failed("run command", err)
	}
	w := newCommandWire(s.ep, s.shellID, id)
	s.running = w
	if err := w.send(ctx, []byte(sc.text), true); err != nil {
		return Result{}, failed("send", err)
	}
	var stdout, stderr []byte
	for {
		res, err := w.receive(ctx, &stdout, &stderr)
		if err != nil {
			return Result{}, failed("receive", err)
		}
		if len(stdout) > maxStdout {
			return Result{}, failed("receive", errOutputTooLarge)
		}
		stderr = keepTail(stderr)
		if res.done {
			s.running = nil
			return coldResult(stdout, stderr, res.exitCode), nil
		}
	}
}

// coldResult is what a powershell.exe of its own produced: stdout, and
// stderr decoded (CLIXML) into its error, warning and information
// streams.
func coldResult(stdout, stderr []byte, exit int) Result {
	r := Result{Stdout: stdout, Exit: exit, Mode: ModeCold}
	if st, err := DecodeStderr(string(stderr)); err == nil {
		r.Errors, r.Warnings, r.Info = st.Errors, st.Warnings, st.Information
	} else if len(stderr) > 0 {
		r.Errors = []string{strings.TrimSpace(string(stderr))}
	}
	return r
}

// keepTail keeps the last maxStderrKeep bytes of a command's stderr.
func keepTail(stderr []byte) []byte {
	if len(stderr) <= maxStderrKeep {
		return stderr
	}
	return append(stderr[:0], stderr[len(stderr)-maxStderrKeep:]...)
}

// utf8BOM is what a .NET writer with a preamble puts before the first
// line; 5.1's Console.Out normally writes none, but it is accepted.
var utf8BOM = []byte("\xEF\xBB\xBF")

// trimLine trims blanks and a UTF-8 byte order mark from a line.
func trimLine(line []byte) []byte {
	return bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(line), utf8BOM))
}

// cutReady finds the READY line and returns what follows it.
func cutReady(b []byte) ([]byte, bool) {
	for len(b) > 0 {
		line, rest, found := bytes.Cut(b, []byte("\n"))
		if !found {
			return nil, false
		}
		if string(trimLine(line)) == loopReadyLine {
			return rest, true
		}
		b = rest
	}
	return nil, false
}

// parseFrame reads "BEGIN id", the base64 JSON line and "END id" from the
// loop's stdout (lines may end in CRLF; blank lines are skipped). It
// scans the bytes in place: the only copies are the decoded document and
// the answer's strings (psjson.Scanner reads the document; encoding/json
// only what the scanner leaves to it).
func parseFrame(b []byte, id string) (loopAnswer, error) {
	// next returns the next non-blank line, trimmed, and the rest.
	next := func(b []byte) (line, rest []byte) {
		for len(b) > 0 {
			line, b, _ = bytes.Cut(b, []byte("\n"))
			if line = trimLine(line); len(line) > 0 {
				return line, b
			}
		}
		return nil, nil
	}
	isMarker := func(line []byte, word string) bool {
		rest, ok := bytes.CutPrefix(line, []byte(word))
		return ok && string(rest) == id // no allocation: compared, not converted
	}
	var line, doc []byte
	for rest := b; ; {
		if line, rest = next(rest); line == nil {
			return loopAnswer{}, fmt.Errorf("%w: no BEGIN %s / END %s frame", errMalformed, id, id)
		}
		if !isMarker(line, "BEGIN ") {
			continue
		}
		doc, rest = next(rest)
		if end, _ := next(rest); doc == nil || !isMarker(end, "END ") {
			return loopAnswer{}, fmt.Errorf("%w: no BEGIN %s / END %s frame", errMalformed, id, id)
		}
		break
	}
	raw, err := base64.StdEncoding.AppendDecode(make([]byte, 0, base64.StdEncoding.DecodedLen(len(doc))), doc)
	if err != nil {
		return loopAnswer{}, fmt.Errorf("%w: answer is not base64: %v", errMalformed, err)
	}
	ans, ok := scanAnswer(raw, id)
	if !ok {
		var slow loopAnswer // its own variable: only this path allocates it
		if err := json.Unmarshal(raw, &slow); err != nil {
			return loopAnswer{}, fmt.Errorf("%w: answer: %v", errMalformed, err)
		}
		ans = slow
	}
	if ans.ID != id {
		return loopAnswer{}, fmt.Errorf("%w: answer for request %q, want %q", errMalformed, ans.ID, id)
	}
	return ans, nil
}

// scanAnswer reads an answer document with psjson.Scanner; false means
// encoding/json must read it.
func scanAnswer(doc []byte, id string) (ans loopAnswer, ok bool) {
	s := psjson.NewScanner(doc)
	ok = s.Object(func(key []byte) bool {
		switch string(key) {
		case "id":
			return s.StringEq(&ans.ID, id) // most often the id asked for: kept without a copy
		case "output":
			return s.String(&ans.Output)
		case "errors":
			return psjson.ScanList(s, &ans.Errors, func() (e string, ok bool) { return e, s.String(&e) })
		case "warnings":
			return psjson.ScanList(s, &ans.Warnings, func() (e string, ok bool) { return e, s.String(&e) })
		case "info":
			return psjson.ScanList(s, &ans.Info, func() (e string, ok bool) { return e, s.String(&e) })
		case "exit":
			return psjson.ScanInt(s, &ans.Exit)
		case "ms":
			return psjson.ScanInt(s, &ans.MS)
		case "session":
			return psjson.ScanInt(s, &ans.Session)
		}
		return s.Other(key, "id", "output", "errors", "warnings", "info", "exit", "ms", "session")
	})
	return ans, ok && s.End()
}

// requestID formats a loop request id: "r" and a number in base 36.
func requestID(n uint64) string {
	return "r" + strconv.FormatUint(n, 36)
}

// isShellLost reports the host's "shell not found" fault: it forgot the
// shell (reboot, idle expiry) or the command in it.
func isShellLost(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.Fault != nil && he.Fault.Code == FaultShellNotFound
}

// isOperationsQuota reports the host's MaxConcurrentOperationsPerUser
// fault: the shell has run as many Commands as the host allows in one
// shell; only a new shell helps.
func isOperationsQuota(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.Fault != nil && he.Fault.Code == FaultOperationsQuota
}

// isConnectionCut reports a connection that ended under a request (EOF,
// reset, broken pipe), as a host's reboot does to kept-alive connections.
func isConnectionCut(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// isLoopExit reports a loop that ended without answering.
func isLoopExit(err error) (*LoopExitError, bool) {
	var le *LoopExitError
	ok := errors.As(err, &le)
	return le, ok
}
