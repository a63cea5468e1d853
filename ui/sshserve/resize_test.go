package sshserve_test

import "testing"

func TestResizeReachesTheConsole(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, f.config(t))
	tm := open(t, f.login(t, "alice", f.admin), true)
	tm.waitFor(t, "alice (Admin)")
	if err := tm.sess.WindowChange(20, 60); err != nil {
		t.Fatal(err)
	}
	tm.waitFor(t, "terminal too small: 60x20")
	_, _ = tm.in.Write([]byte("q"))
	tm.end(t)
}
