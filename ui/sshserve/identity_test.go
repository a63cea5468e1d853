package sshserve_test

import (
	"context"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"unicode/utf8"

	gossh "golang.org/x/crypto/ssh"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/ui/sshserve"
)

// recorder is the real engine with Do watched: what identity each request
// had, as argument and in its context.
type recorder struct {
	*engine.Engine
	mu   sync.Mutex
	args []engine.Identity
	ctxs []engine.Identity
}

func (r *recorder) Do(ctx context.Context, id engine.Identity, req engine.Request) (any, error) {
	fromCtx, _ := sshserve.IdentityFrom(ctx)
	r.mu.Lock()
	r.args = append(r.args, id)
	r.ctxs = append(r.ctxs, fromCtx)
	r.mu.Unlock()
	return r.Engine.Do(ctx, id, req)
}

func TestRequestsCarryTheSessionIdentity(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rec := &recorder{Engine: f.eng}
	cfg := f.config(t)
	cfg.Engine = rec
	f.start(t, cfg)
	c := f.login(t, "alice", f.admin)
	tm := open(t, c, true)
	tm.waitFor(t, "alice (Admin)")
	_, _ = tm.in.Write([]byte("q"))
	tm.end(t)

	want := engine.Identity{User: "alice", Role: engine.RoleAdmin, RemoteAddr: c.LocalAddr().String(),
		Via: engine.ViaSSH, KeyFP: gossh.FingerprintSHA256(f.admin.pub)}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.args) != 2 {
		t.Fatalf("%d requests, want 2 (session.open, session.close)", len(rec.args))
	}
	for i := range rec.args {
		if rec.args[i] != want || rec.ctxs[i] != want {
			t.Errorf("request %d: identity %+v, in context %+v; want %+v", i, rec.args[i], rec.ctxs[i], want)
		}
	}
}

// A client that asks for a 0x0 terminal gets the console drawn as for an
// 80x24 one: the same header layout as a real 80x24 session (its right
// part starts in the same column, so the width is 80, where a 100-column
// session's does not), and the key bar on row 24.
func TestAZeroSizedTerminalGetsTheClassicSize(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, f.config(t))
	screen := func(cols, rows int) string {
		t.Helper()
		c := f.login(t, "alice", f.admin)
		sess, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		out := &syncBuffer{}
		sess.Stdout, sess.Stderr = out, out
		in, err := sess.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := sess.RequestPty("xterm", rows, cols, gossh.TerminalModes{}); err != nil {
			t.Fatal(err)
		}
		if err := sess.Shell(); err != nil {
			t.Fatal(err)
		}
		tm := &term{sess: sess, in: in, out: out, done: make(chan error, 1)}
		go func() { tm.done <- sess.Wait() }()
		tm.waitFor(t, "alice (Admin)", "WS-SSH-001", "q quit")
		_, _ = in.Write([]byte("q"))
		tm.end(t)
		return out.String()
	}
	// The renderer moves the cursor to where the header's right part
	// starts (ESC [ 1 ; COLUMN H) and writes it; it ends at the right
	// edge, whatever it holds (the pool's counters come and go).
	headerRight := regexp.MustCompile(`\x1b\[1;(\d+)H([^\x1b]*alice \(Admin\))`)
	column := func(screen string) string {
		t.Helper()
		m := headerRight.FindStringSubmatch(screen)
		if m == nil {
			t.Fatalf("no right-aligned header in %q", screen)
		}
		start, _ := strconv.Atoi(m[1])
		return strconv.Itoa(start + utf8.RuneCountInString(m[2]) - 1)
	}
	zero, classic, wide := screen(0, 0), screen(80, 24), screen(100, 30)
	if z, c := column(zero), column(classic); z != c {
		t.Errorf("0x0: the header's right part ends in column %s, in an 80x24 session in %s", z, c)
	}
	if column(zero) == column(wide) {
		t.Fatalf("an 80- and a 100-column session end the header in the same column: the check cannot tell widths apart")
	}
	if !regexp.MustCompile(`\x1b\[24d[^\x1b]*\x1b\[37mj/k move`).MatchString(zero) {
		t.Errorf("0x0: the key bar is not on row 24: %q", zero)
	}
}
