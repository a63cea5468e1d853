package winrmsim

import (
	"strings"
	"sync"
	"time"
)

// shell is one WinRS shell (ResourceURI .../windows/shell/cmd) on a host.
// The host's mu guards the shell's fields and its command map.
type shell struct {
	id        string
	owner     string
	clientIP  string
	codepage  int  // WINRS_CODEPAGE; 65001 is UTF-8, anything else gets ASCII
	noProfile bool // WINRS_NOPROFILE
	created   time.Time
	lastUsed  time.Time
	// operations counts the Commands run in the shell: they count
	// against the host's quota until the shell is deleted.
	operations int
	commands   map[string]*command
}

// lookupShellLocked finds a live shell, dropping it first if it sat idle
// past the timeout (WinRM's IdleTimeout). h.mu must be held.
func (h *host) lookupShellLocked(id string, now time.Time, idle time.Duration) *shell {
	s, ok := h.shells[id]
	if !ok {
		return nil
	}
	if idle > 0 && now.Sub(s.lastUsed) > idle {
		h.removeShellLocked(s)
		h.stats.shellsDropped.Add(1)
		return nil
	}
	s.lastUsed = now
	return s
}

// expireShellsLocked drops every shell idle past the timeout, so that a
// forgotten shell stops counting against the quota. h.mu must be held.
func (h *host) expireShellsLocked(now time.Time, idle time.Duration) {
	if idle <= 0 {
		return
	}
	for _, s := range h.shells {
		if now.Sub(s.lastUsed) > idle {
			h.removeShellLocked(s)
			h.stats.shellsDropped.Add(1)
		}
	}
}

// removeShellLocked deletes a shell and aborts its commands. h.mu must be
// held.
func (h *host) removeShellLocked(s *shell) {
	delete(h.shells, s.id)
	h.stats.shellsOpen.Add(-1)
	for _, c := range s.commands {
		c.abort()
	}
}

// dropShellsLocked removes every shell, as a reboot or Close does. h.mu
// must be held.
func (h *host) dropShellsLocked() {
	for _, s := range h.shells {
		h.removeShellLocked(s)
		h.stats.shellsDropped.Add(1)
	}
}

// Output streams of a command.
const (
	streamStdout = iota
	streamStderr
)

var streamNames = [...]string{streamStdout: "stdout", streamStderr: "stderr"}

// chunk is output that becomes visible to Receive at a given instant.
type chunk struct {
	at     time.Time
	stream int
	data   []byte
}

// command is one rsp:Command in a shell: the process running it and its
// output queue. Processes never block; they schedule output in the queue
// at the instant it would appear, and Receive long-polls on wake.
type command struct {
	id string
	// program is the first word of the command line (winrs joins Command
	// and Arguments with spaces), for logs. The whole line is not kept: a
	// resident loop's -EncodedCommand is kilobytes, times 10,000 hosts.
	program string
	// consoleModeStdin and skipCmdShell record the WINRS_CONSOLEMODE_STDIN
	// and WINRS_SKIP_CMD_SHELL options of the Command request.
	consoleModeStdin bool
	skipCmdShell     bool

	mu       sync.Mutex
	proc     process
	m        *machine // the host as the process sees it
	queue    []chunk  // ordered by at
	lastAt   time.Time
	exited   bool
	exitAt   time.Time
	exitCode int
	stdinEOF bool
	gone     bool          // terminated, or its shell is gone
	wake     chan struct{} // closed and replaced whenever the above change
}

func newCommand(id, line string) *command {
	prog, _ := firstWord(line)
	return &command{id: id, program: strings.Clone(prog), wake: make(chan struct{})}
}

// notifyLocked wakes every Receive waiting on the command. c.mu must be held.
func (c *command) notifyLocked() {
	close(c.wake)
	c.wake = make(chan struct{})
}

// appendLocked queues output; times never go backwards, so the queue stays
// ordered. c.mu must be held.
func (c *command) appendLocked(at time.Time, stream int, data []byte) {
	if len(data) == 0 || c.exited {
		return
	}
	if at.Before(c.lastAt) {
		at = c.lastAt
	}
	c.lastAt = at
	c.queue = append(c.queue, chunk{at: at, stream: stream, data: data})
}

// exitLocked ends the process at the given instant, after any output
// already queued. c.mu must be held.
func (c *command) exitLocked(at time.Time, code int) {
	if c.exited {
		return
	}
	if at.Before(c.lastAt) {
		at = c.lastAt
	}
	c.exited, c.exitAt, c.exitCode = true, at, code
}

// killLocked ends the process now: output it had scheduled for later is
// lost, as when a process is interrupted. c.mu must be held.
func (c *command) killLocked(now time.Time, code int) {
	if c.exited && !c.exitAt.After(now) {
		return
	}
	keep := c.queue[:0]
	for _, ch := range c.queue {
		if !ch.at.After(now) {
			keep = append(keep, ch)
		}
	}
	c.queue = keep
	if c.lastAt.After(now) {
		c.lastAt = now
	}
	c.exited, c.exitAt, c.exitCode = true, now, code
}

// abort marks the command gone (terminated or shell deleted) and wakes any
// Receive waiting on it.
func (c *command) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return
	}
	c.gone = true
	c.queue = nil
	c.notifyLocked()
}

// received is what one Receive takes from a command.
type received struct {
	chunks   []chunk
	done     bool // exited and all output delivered
	exitCode int
	gone     bool
	next     time.Time     // when more output is due; zero if unknown
	wake     chan struct{} // closed when the command changes
}

// take removes the output visible at now, at most max bytes, keeping only
// the wanted streams.
func (c *command) take(now time.Time, max int, want [2]bool) received {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := received{gone: c.gone, wake: c.wake}
	if c.gone {
		return r
	}
	n := 0
	for len(c.queue) > 0 && !c.queue[0].at.After(now) && n < max {
		ch := c.queue[0]
		if !want[ch.stream] {
			c.queue = c.queue[1:]
			continue
		}
		if n+len(ch.data) > max {
			cut := max - n
			r.chunks = append(r.chunks, chunk{at: ch.at, stream: ch.stream, data: ch.data[:cut]})
			c.queue[0].data = ch.data[cut:]
			n = max
			break
		}
		r.chunks = append(r.chunks, ch)
		n += len(ch.data)
		c.queue = c.queue[1:]
	}
	if len(c.queue) == 0 {
		c.queue = nil // let a long-lived command's backing array go
		if c.exited && !c.exitAt.After(now) {
			r.done, r.exitCode = true, c.exitCode
		} else if c.exited {
			r.next = c.exitAt
		}
	} else if c.queue[0].at.After(now) {
		r.next = c.queue[0].at
	}
	return r
}
