package winrmsim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// The resident PowerShell loop (rmm's engine/winrm/loop.ps1): one
// powershell.exe per pooled shell, fed one request per stdin line, so a
// warm poll pays no powershell.exe start. The simulator plays it when
// powershell.exe runs a loop script (marker "# rmm:script=loop vN"),
// given either as its -EncodedCommand, or as the first stdin line (base64
// of its UTF-8 text) of powershell.exe started with rmm's loop bootstrap
// (marker "# rmm:bootstrap=loop vN": it reads that line with
// [Console]::In and runs it).
//
// Framing protocol (the engine's engine/winrm/loop.go and loop.ps1 follow
// the same):
//   - On start the loop prints "READY loop vN" and flushes.
//   - Request: one ASCII line "<id> <base64 of the UTF-8 script>", id
//     matching [A-Za-z0-9-]{1,64}; from v3 also "<id> SESSION <cols>
//     <base64>", run in the loop's session runspace (kept from line to
//     line: variables, functions and the location carry over). The line
//     "<id> EXIT" ends the loop cleanly (exit code 0); so does the end of
//     stdin.
//   - The answer is exactly three lines and a flush: "BEGIN <id>", the
//     base64 of a UTF-8 JSON document, "END <id>".
//   - A line that is not a request is ignored (a v2 loop ignores SESSION
//     lines: they are not two words).
//
// What a script's answer holds follows how Windows PowerShell 5.1 runs
// each version's loop (../shared/research/fidelity-review.md):
//   - v1 runs the script as AddScript(s).AddCommand('Out-String') and
//     takes the exit code from $LASTEXITCODE, else HadErrors. An `exit`
//     in the script throws past Out-String: the answer has no output and
//     the code is lost (0, or 1 when HadErrors). HadErrors is also set by
//     errors the script suppressed or caught. Write-Host, warnings and
//     information are dropped. {"id","output","errors","exit","ms"}.
//   - v2 runs the script without Out-String in its pipeline, as a script
//     file when it contains `exit`, and takes the code from that exit,
//     else from the error records written. It returns warnings and the
//     information stream (Write-Host, Write-Information).
//     {"id","output","errors","warnings","info","exit","ms"}.
//   - v3 is v2 with the session runspace; its answer adds "session": the
//     lines the session runspace has run, this one included (0 for a
//     fresh-runspace request).
//
// Costs: Config.PSStart once, when the loop starts (READY appears then);
// Config.ScriptTime per recognised script, one request after another.

// Loop names and versions the simulator knows.
const (
	loopName         = "loop"
	loopBootstrap    = "bootstrap=loop" // marker name of the loop's bootstrap
	stdinBootstrap   = "bootstrap=stdin"
	loopVersionFirst = 1
	loopVersionLast  = 3
)

// accessViolationExitCode is STATUS_ACCESS_VIOLATION (0xC0000005) as a
// signed exit code: what a crashed powershell.exe exits with.
const accessViolationExitCode = -1073741819

// psLoop is powershell.exe running the resident loop.
type psLoop struct {
	interruptible
	m        *machine
	version  int       // the loop script's version; 0 until a bootstrap read it
	boot     bool      // started by the bootstrap: the first line is the loop script
	started  time.Time // powershell.exe is up
	ready    time.Time // when READY is printed
	busy     time.Time // when the loop is free for the next request
	pending  []byte    // stdin not yet a complete line
	hung     bool      // took a request it will never answer
	dead     bool      // cannot run (no-loop, Constrained Language) or crashed
	readyOut bool      // READY was scheduled
	// session is the v3 session runspace: the interpreter whose state
	// (variables, functions, location) SESSION lines share; nil until the
	// first one. sessionLines counts them.
	session      *psProcess
	sessionLines int
}

// newLoop is powershell.exe started with loop script version v.
func newLoop(m *machine, v int) *psLoop { return &psLoop{m: m, version: v} }

// newLoopBootstrap is powershell.exe started with the loop's bootstrap:
// the loop script comes as the first stdin line.
func newLoopBootstrap(m *machine) *psLoop { return &psLoop{m: m, boot: true} }

// Start pays powershell.exe's start and prints READY, unless the host
// cannot run the loop: then it fails the way Constrained Language mode
// fails the loop's first .NET call ([Console]::In).
func (p *psLoop) Start(pio *procIO) {
	p.started = pio.Now().Add(p.m.fleet.cfg.PSStart)
	p.ready, p.busy = p.started, p.started
	h := p.m.h
	if h.fault() == FaultNoLoop || h.hp.clm {
		if h.fault() == FaultNoLoop {
			h.stats.injected.Add(1)
		}
		p.dead = true
		ps := &psProcess{m: p.m, encoded: true}
		src := "$rmmLoop = [Console]::In.ReadLine()"
		if !p.boot {
			src = "$stdin = [Console]::In"
		}
		rec := []string{
			"Cannot invoke method. Method invocation is supported only on core types in this language mode.",
			"At line:2 char:1",
			"+ " + src,
			"+ " + strings.Repeat("~", len(src)),
			"    + CategoryInfo          : InvalidOperation: (:) [], RuntimeException",
			"    + FullyQualifiedErrorId : MethodInvocationNotSupportedInConstrainedLanguage",
			" ",
		}
		pio.Stderr(p.ready, ps.stderrDoc([][]string{rec}, nil))
		pio.Exit(p.ready, 1)
		return
	}
	h.stats.loopStarts.Add(1)
	if !p.boot {
		p.printReady(pio)
	}
}

// printReady schedules the READY line.
func (p *psLoop) printReady(pio *procIO) {
	p.readyOut = true
	pio.Stdout(p.ready, []byte("READY loop v"+strconv.Itoa(p.version)+"\r\n"))
}

// Stdin takes request lines as they arrive; each is answered once the
// loop is free (after READY and after the previous request).
func (p *psLoop) Stdin(pio *procIO, data []byte, eof bool) {
	if pio.Exited() || p.dead {
		return
	}
	// Lines are read straight from data; only an unfinished line is kept.
	buf := data
	if len(p.pending) > 0 {
		buf = append(p.pending, data...)
		p.pending = nil
	}
	for !p.dead && !pio.Exited() {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			break
		}
		line := bytes.TrimSpace(buf[:i])
		buf = buf[i+1:]
		if !p.readyOut {
			p.loadScript(pio, line)
			continue
		}
		p.line(pio, line)
	}
	if len(buf) > 0 && !p.dead && !pio.Exited() {
		p.pending = append([]byte(nil), buf...)
	}
	if eof && !p.hung && !p.dead && !pio.Exited() {
		// [Console]::In.ReadLine() returned $null: the loop ends (the
		// bootstrap, given no script, ends too).
		if p.readyOut {
			p.m.h.stats.loopExits.Add(1)
		}
		pio.Exit(p.start(pio), 0)
	}
}

// loadScript is the bootstrap reading the loop script: base64 of its
// UTF-8 text. A script that is not a loop this simulator knows fails as
// PowerShell would run it: it is not one.
func (p *psLoop) loadScript(pio *procIO, line []byte) {
	at := p.start(pio)
	raw, err := base64.StdEncoding.DecodeString(string(line))
	var v int
	if err == nil {
		if mk := scriptMarker.FindStringSubmatch(string(raw)); mk != nil && mk[1] == loopName {
			v, _ = strconv.Atoi(mk[2])
		}
	}
	if v < loopVersionFirst || v > loopVersionLast {
		p.dead = true
		ps := &psProcess{m: p.m, encoded: true}
		msg := "The simulated host does not know this resident loop (want # rmm:script=loop v1, v2 or v3)."
		if err != nil {
			msg = `Exception calling "FromBase64String" with "1" argument(s): "The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters. "`
		}
		pio.Stderr(at, ps.stderrDoc([][]string{{msg}}, nil))
		pio.Exit(at, 1)
		return
	}
	p.version = v
	p.ready, p.busy = at, at
	p.printReady(pio)
}

// start is when the loop gets to the next line: now, or once it is free.
func (p *psLoop) start(pio *procIO) time.Time {
	if pio.Now().After(p.busy) {
		return pio.Now()
	}
	return p.busy
}

func (p *psLoop) line(pio *procIO, line []byte) {
	if p.hung {
		return
	}
	rawID, arg, ok := bytes.Cut(line, []byte(" "))
	if !ok || !validLoopID(rawID) || len(arg) == 0 {
		return // not a request
	}
	inSession := false
	if bytes.IndexByte(arg, ' ') >= 0 {
		// v3: "SESSION <cols> <base64>" (the loop splits at single blanks:
		// exactly four words).
		f := bytes.Split(arg, []byte(" "))
		cols, err := strconv.Atoi(string(f[min(1, len(f)-1)]))
		if p.version < 3 || len(f) != 3 || string(f[0]) != "SESSION" || err != nil || len(f[1]) < 2 || len(f[1]) > 4 ||
			cols < 20 || cols > 1000 {
			return // not a request
		}
		inSession, arg = true, f[2]
	}
	id := string(rawID)
	at := p.start(pio)
	if string(arg) == "EXIT" {
		p.m.h.stats.loopExits.Add(1)
		pio.Exit(at, 0)
		return
	}
	h := p.m.h
	switch {
	case h.takeFault(FaultLoopCrash):
		p.dead = true
		pio.Stderr(at, []byte("Process is terminated due to StackOverflowException.\r\n"))
		pio.Exit(at, accessViolationExitCode)
		return
	case h.takeFault(FaultLoopHang):
		p.hung = true
		return
	}

	out := &loopCapture{at: at, version: p.version}
	if raw, err := base64.StdEncoding.AppendDecode(make([]byte, 0, base64.StdEncoding.DecodedLen(len(arg))), arg); err != nil {
		out.errors = append(out.errors, `Exception calling "FromBase64String" with "1" argument(s): "The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters. "`)
		out.thrown = true
	} else {
		// The script runs in a runspace of the loop's: no CLIXML, errors
		// as records. A SESSION line runs in the session runspace, whose
		// state the next SESSION line sees.
		inner := &psProcess{m: p.m}
		if inSession {
			if p.session == nil {
				p.session, p.sessionLines = &psProcess{m: p.m, session: true}, 0
			}
			p.sessionLines++
			inner, out.session = p.session, p.sessionLines
		}
		inner.run(out, at, string(raw))
	}
	done := out.at
	doc := out.answer(id, done.Sub(at).Milliseconds())
	var b strings.Builder
	b.Grow(len(id)*2 + base64.StdEncoding.EncodedLen(len(doc)) + 20)
	b.WriteString("BEGIN ")
	b.WriteString(id)
	b.WriteString("\r\n")
	b.WriteString(base64.StdEncoding.EncodeToString(doc))
	b.WriteString("\r\nEND ")
	b.WriteString(id)
	b.WriteString("\r\n")
	pio.Stdout(done, []byte(b.String()))
	p.busy = done
	h.stats.loopRequests.Add(1)
}

// validLoopID reports whether id matches [A-Za-z0-9-]{1,64}.
func validLoopID(id []byte) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// loopAnswerV1 is the JSON document of a v1 answer frame.
type loopAnswerV1 struct {
	ID     string   `json:"id"`
	Output string   `json:"output"`
	Errors []string `json:"errors"`
	Exit   int      `json:"exit"`
	MS     int64    `json:"ms"`
}

// loopAnswerV2 is the JSON document of a v2 answer frame.
type loopAnswerV2 struct {
	ID       string   `json:"id"`
	Output   string   `json:"output"`
	Errors   []string `json:"errors"`
	Warnings []string `json:"warnings"`
	Info     []string `json:"info"`
	Exit     int      `json:"exit"`
	MS       int64    `json:"ms"`
}

// loopAnswerV3 is the JSON document of a v3 answer frame.
type loopAnswerV3 struct {
	loopAnswerV2
	Session int `json:"session"`
}

// loopCapture collects what a script run by the loop produced.
type loopCapture struct {
	version    int
	session    int       // v3: the session runspace's line count with this line; 0 for a fresh runspace
	at         time.Time // the latest instant the script did anything
	stdout     strings.Builder
	info       []string // Write-Host and Write-Information
	warnings   []string
	errors     []string
	suppressed bool // an error was written but not shown (HadErrors)
	exited     bool // the script ran exit
	thrown     bool // the loop itself failed on the request
	code       int  // exit's code
}

func (c *loopCapture) later(at time.Time) {
	if at.After(c.at) {
		c.at = at
	}
}

// Stdout collects output.
func (c *loopCapture) Stdout(at time.Time, data []byte) {
	c.later(at)
	c.stdout.Write(data)
}

// Host collects Write-Host text: an information record in a runspace.
func (c *loopCapture) Host(at time.Time, text string) {
	c.later(at)
	c.info = append(c.info, text)
}

// Warning collects Write-Warning text.
func (c *loopCapture) Warning(at time.Time, text string) {
	c.later(at)
	c.warnings = append(c.warnings, text)
}

// Information collects Write-Information text.
func (c *loopCapture) Information(at time.Time, text string) {
	c.later(at)
	c.info = append(c.info, text)
}

// Suppressed notes an error that 5.1 counts in HadErrors.
func (c *loopCapture) Suppressed() { c.suppressed = true }

// ErrorRecords keeps each record's message, as ErrorRecord.ToString()
// gives it to the loop.
func (c *loopCapture) ErrorRecords(at time.Time, records [][]string) {
	c.later(at)
	for _, r := range records {
		if len(r) > 0 {
			c.errors = append(c.errors, r[0])
		}
	}
}

// Exit records the script's exit.
func (c *loopCapture) Exit(at time.Time, code int) {
	c.later(at)
	c.exited, c.code = true, code
}

// Done records the script's end.
func (c *loopCapture) Done(at time.Time) { c.later(at) }

// answer is the answer document, as the loop version that ran the script
// builds it.
func (c *loopCapture) answer(id string, ms int64) []byte {
	errs := append([]string{}, c.errors...)
	var doc []byte
	if c.version == 1 {
		a := loopAnswerV1{ID: id, Errors: errs, MS: ms}
		// exit threw past Out-String: nothing printed survives, and
		// $LASTEXITCODE is not set by it.
		if !c.exited && !c.thrown {
			a.Output = c.stdout.String()
		}
		if c.thrown || len(c.errors) > 0 || c.suppressed {
			a.Exit = 1 // HadErrors
		}
		doc, _ = json.Marshal(a) // strings and ints always marshal
		return doc
	}
	a := loopAnswerV2{ID: id, Output: c.stdout.String(), Errors: errs, Warnings: append([]string{}, c.warnings...),
		Info: append([]string{}, c.info...), MS: ms}
	switch {
	case c.exited:
		a.Exit = c.code
	case c.thrown || len(c.errors) > 0:
		a.Exit = 1
	}
	if c.version >= 3 {
		doc, _ = json.Marshal(loopAnswerV3{loopAnswerV2: a, Session: c.session})
		return doc
	}
	doc, _ = json.Marshal(a)
	return doc
}
