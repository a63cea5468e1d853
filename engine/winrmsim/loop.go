package winrmsim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// The resident PowerShell loop (rmm's engine/scripts/loop.ps1): one
// powershell.exe per pooled shell, fed one request per stdin line, so a
// warm poll pays no powershell.exe start. The simulator plays it when
// powershell.exe is started with -EncodedCommand and a script whose
// marker line is "# rmm:script=loop v1".
//
// Framing protocol (the engine's psloop.go and loop.ps1 follow the same):
//   - On start the loop prints "READY loop v1" and flushes.
//   - Request: one ASCII line "<id> <base64 of the UTF-8 script>", id
//     matching [A-Za-z0-9-]{1,64}. The line "<id> EXIT" ends the loop
//     cleanly (exit code 0); so does the end of stdin.
//   - The loop runs the script in its own runspace inside try/catch with
//     $ProgressPreference='SilentlyContinue' (exit in the script ends only
//     the script), then answers with exactly three lines and a flush:
//     "BEGIN <id>", the base64 of a UTF-8 JSON document
//     {"id":"..","output":"<stdout text>","errors":["..."],"exit":N,"ms":N},
//     "END <id>".
//   - A line that is not a request is ignored.
//
// Costs: Config.PSStart once, when the loop starts (READY appears then);
// Config.ScriptTime per recognised script, one request after another.

// loopMarker names the loop script; the version is the framing's.
const (
	loopName    = "loop"
	loopVersion = 1
	loopReady   = "READY loop v1\r\n"
)

// accessViolationExitCode is STATUS_ACCESS_VIOLATION (0xC0000005) as a
// signed exit code: what a crashed powershell.exe exits with.
const accessViolationExitCode = -1073741819

// psLoop is powershell.exe running the resident loop.
type psLoop struct {
	interruptible
	m       *machine
	ready   time.Time // when READY is printed
	busy    time.Time // when the loop is free for the next request
	pending []byte    // stdin not yet a complete line
	hung    bool      // took a request it will never answer
	dead    bool      // cannot run (no-loop) or crashed
}

// newLoop is powershell.exe started with the loop script.
func newLoop(m *machine) *psLoop { return &psLoop{m: m} }

// Start pays powershell.exe's start and prints READY, unless the host
// cannot run the loop: then it fails the way Constrained Language Mode
// fails the loop's first .NET call.
func (p *psLoop) Start(pio *procIO) {
	p.ready = pio.Now().Add(p.m.fleet.cfg.PSStart)
	p.busy = p.ready
	if p.m.h.fault() == FaultNoLoop {
		p.m.h.stats.injected.Add(1)
		p.dead = true
		ps := &psProcess{m: p.m, encoded: true}
		rec := []string{
			"Cannot invoke method. Method invocation is supported only on core types in this language mode.",
			"At line:11 char:1",
			"+ $stdin = [Console]::In",
			"+ ~~~~~~~~~~~~~~~~~~~~~~~",
			"    + CategoryInfo          : InvalidOperation: (:) [], RuntimeException",
			"    + FullyQualifiedErrorId : MethodInvocationNotSupportedInConstrainedLanguage",
			" ",
		}
		pio.Stderr(p.ready, ps.stderrDoc([][]string{rec}))
		pio.Exit(p.ready, 1)
		return
	}
	p.m.h.stats.loopStarts.Add(1)
	pio.Stdout(p.ready, []byte(loopReady))
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
		p.line(pio, line)
	}
	if len(buf) > 0 && !p.dead && !pio.Exited() {
		p.pending = append([]byte(nil), buf...)
	}
	if eof && !p.hung && !p.dead && !pio.Exited() {
		// [Console]::In.ReadLine() returned $null: the loop ends.
		p.m.h.stats.loopExits.Add(1)
		pio.Exit(p.start(pio), 0)
	}
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
	if !ok || !validLoopID(rawID) || len(arg) == 0 || bytes.IndexByte(arg, ' ') >= 0 {
		return // not a request
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

	ans := loopAnswer{ID: id, Errors: []string{}}
	out := &loopCapture{at: at}
	if raw, err := base64.StdEncoding.AppendDecode(make([]byte, 0, base64.StdEncoding.DecodedLen(len(arg))), arg); err != nil {
		ans.Errors = append(ans.Errors, `Exception calling "FromBase64String" with "1" argument(s): "The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters. "`)
		ans.Exit = 1
	} else {
		// The script runs in the loop's runspace: no CLIXML, errors as
		// records; its exit ends only the script.
		inner := &psProcess{m: p.m}
		inner.run(out, at, string(raw))
		ans.Output = out.stdout.String()
		ans.Errors = append(ans.Errors, out.errors...)
		ans.Exit = out.code
	}
	done := out.at
	ans.MS = done.Sub(at).Milliseconds()
	doc, _ := json.Marshal(ans) // a struct of strings and ints always marshals
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

// loopAnswer is the JSON document of one answer frame.
type loopAnswer struct {
	ID     string   `json:"id"`
	Output string   `json:"output"`
	Errors []string `json:"errors"`
	Exit   int      `json:"exit"`
	MS     int64    `json:"ms"`
}

// loopCapture collects what a script run by the loop produced.
type loopCapture struct {
	at     time.Time // the latest instant the script did anything
	stdout strings.Builder
	errors []string
	code   int
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

// Exit records the script's exit code.
func (c *loopCapture) Exit(at time.Time, code int) {
	c.later(at)
	c.code = code
}
