package sshserve_test

import (
	"context"
	"sync"
	"testing"

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

func TestAZeroSizedTerminalGetsTheClassicSize(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, f.config(t))
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
	if err := sess.RequestPty("xterm", 0, 0, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	tm := &term{sess: sess, in: in, out: out, done: make(chan error, 1)}
	go func() { tm.done <- sess.Wait() }()
	tm.waitFor(t, "alice (Admin)", "WS-SSH-001")
	_, _ = in.Write([]byte("q"))
	tm.end(t)
}
