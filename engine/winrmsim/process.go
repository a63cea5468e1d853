package winrmsim

import (
	"bytes"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// process is a program running under a Command: the simulated cmd.exe
// built-ins, filters that read stdin, and powershell.exe.
//
// The protocol layer owns the Command's output queue and calls a process
// with the command's lock held, so a process must not block, sleep or start
// goroutines. Instead it schedules output at the wall-clock instant it would
// appear (pio.Now() plus whatever the work costs) and Receive long-polls
// until then. A long-running process (a resident PowerShell loop fed over
// stdin) fits the same shape: it keeps its own "busy until" and schedules
// each answer when a line arrives on Stdin.
type process interface {
	// Start runs when the Command is created.
	Start(pio *procIO)
	// Stdin delivers bytes the client sent; eof is the End="true" marker.
	Stdin(pio *procIO, data []byte, eof bool)
	// Signal delivers a ctrl_c or ctrl_break (the last path element of the
	// signal code URI). terminate does not reach the process: the command
	// is simply gone.
	Signal(pio *procIO, signal string)
}

// machine is what a process can see of the host it runs on.
type machine struct {
	h        *host
	fleet    *Fleet
	user     string
	codepage int
	noProf   bool
	// lastBoot is read when the command starts: a reboot drops the shell,
	// so it cannot change under a running command.
	lastBoot time.Time
}

// procIO is a process's view of its command: the current time, the host,
// and the output and exit of the command.
type procIO struct {
	c   *command
	now time.Time
	m   *machine
}

// Now is the instant the process is being called at.
func (p *procIO) Now() time.Time { return p.now }

// Stdout schedules standard output at the given instant.
func (p *procIO) Stdout(at time.Time, data []byte) {
	p.c.appendLocked(at, streamStdout, p.encode(data))
}

// Stderr schedules standard error at the given instant.
func (p *procIO) Stderr(at time.Time, data []byte) {
	p.c.appendLocked(at, streamStderr, p.encode(data))
}

// Exit ends the process at the given instant with a code.
func (p *procIO) Exit(at time.Time, code int) { p.c.exitLocked(at, code) }

// Kill ends the process now, dropping output scheduled for later.
func (p *procIO) Kill(code int) { p.c.killLocked(p.now, code) }

// Exited reports whether the process has already ended (or is scheduled to).
func (p *procIO) Exited() bool { return p.c.exited }

// encode applies the shell's code page: 65001 passes UTF-8 through; any
// other page gets '?' for what it could not show, ASCII being the part
// every OEM code page shares.
func (p *procIO) encode(data []byte) []byte {
	if p.m.codepage == 65001 {
		return data
	}
	ascii := true
	for _, b := range data {
		if b >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return data
	}
	out := make([]byte, 0, len(data))
	for len(data) > 0 {
		r, n := utf8.DecodeRune(data)
		data = data[n:]
		if r < 0x80 {
			out = append(out, byte(r))
		} else {
			out = append(out, '?')
		}
	}
	return out
}

// ctrlCExitCode is STATUS_CONTROL_C_EXIT (0xC000013A) as a signed exit code.
const ctrlCExitCode = -1073741510

// interruptible gives a process the usual Ctrl+C behaviour: it dies.
type interruptible struct{}

// Signal ends the process on ctrl_c and ctrl_break.
func (interruptible) Signal(pio *procIO, signal string) {
	if signal == "ctrl_c" || signal == "ctrl_break" {
		pio.Kill(ctrlCExitCode)
	}
}

// ignoresStdin is for processes that never read their input.
type ignoresStdin struct{}

// Stdin drops the input, as a program that never reads it would.
func (ignoresStdin) Stdin(*procIO, []byte, bool) {}

// fixedOutput prints what it was given once, after an optional delay, and
// exits: the shape of every instant command (hostname, whoami, echo...).
type fixedOutput struct {
	interruptible
	ignoresStdin
	stdout, stderr string
	code           int
	delay          time.Duration
}

// Start schedules the whole output and the exit.
func (p *fixedOutput) Start(pio *procIO) {
	at := pio.Now().Add(p.delay)
	pio.Stdout(at, []byte(p.stdout))
	pio.Stderr(at, []byte(p.stderr))
	pio.Exit(at, p.code)
}

// lineFilter is `more`, `findstr` and `sort` reading stdin: it answers as
// input arrives and exits at end of input.
type lineFilter struct {
	interruptible
	keep    func(line string) bool // nil keeps every line
	sorted  bool                   // sort prints everything at the end
	pending []byte
	lines   []string
	matched bool
}

// Start does nothing: the filter waits for input.
func (p *lineFilter) Start(*procIO) {}

// Stdin filters every complete line; at eof it flushes and exits.
func (p *lineFilter) Stdin(pio *procIO, data []byte, eof bool) {
	if pio.Exited() {
		return
	}
	p.pending = append(p.pending, data...)
	for {
		i := bytes.IndexByte(p.pending, '\n')
		if i < 0 {
			break
		}
		p.line(pio, strings.TrimRight(string(p.pending[:i]), "\r"))
		p.pending = p.pending[i+1:]
	}
	if !eof {
		return
	}
	if len(p.pending) > 0 {
		p.line(pio, strings.TrimRight(string(p.pending), "\r"))
		p.pending = nil
	}
	if p.sorted {
		sortFold(p.lines)
		var b strings.Builder
		for _, l := range p.lines {
			b.WriteString(l)
			b.WriteString("\r\n")
		}
		pio.Stdout(pio.Now(), []byte(b.String()))
	}
	code := 0
	if p.keep != nil && !p.matched {
		code = 1 // findstr: nothing matched
	}
	pio.Exit(pio.Now(), code)
}

func (p *lineFilter) line(pio *procIO, l string) {
	if p.sorted {
		p.lines = append(p.lines, l)
		return
	}
	if p.keep != nil && !p.keep(l) {
		return
	}
	p.matched = true
	pio.Stdout(pio.Now(), []byte(l+"\r\n"))
}

// sortFold sorts case-insensitively, as sort.exe does.
func sortFold(lines []string) {
	slices.SortStableFunc(lines, func(a, b string) int {
		return strings.Compare(strings.ToLower(a), strings.ToLower(b))
	})
}
