package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

// These tests kill an rmm process with SIGKILL (kill -9: no deferred
// cleanup runs) in the middle of its work, as the reliability report did
// (F4, F5), and check what the next rmm to start makes of what it left.
// The child is this test binary acting as rmm (TestMain, asRMM).

// child is an rmm process started by a test.
type child struct {
	cmd      *exec.Cmd
	out, err bytes.Buffer
	logFile  string // the rmm's log, shown when a wait times out
}

// startChild runs `rmm args...` in a child process with the cli's
// environment.
func startChild(t *testing.T, c *cli, args ...string) *child {
	t.Helper()
	ch := &child{cmd: exec.Command(os.Args[0], args...), logFile: filepath.Join(c.home, ".local", "state", "rmm", "logs", "rmm.log")}
	env := []string{asRMM + "=1"}
	for k, v := range c.env {
		env = append(env, k+"="+v)
	}
	ch.cmd.Env = env
	ch.cmd.Stdout, ch.cmd.Stderr = &ch.out, &ch.err
	if err := ch.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if ch.cmd.ProcessState == nil {
			_ = ch.cmd.Process.Kill()
			_ = ch.cmd.Wait()
		}
	})
	return ch
}

// kill9 sends SIGKILL and reaps the child.
func (ch *child) kill9(t *testing.T) {
	t.Helper()
	if err := ch.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = ch.cmd.Wait()
}

// until polls cond (bounded; the deadline only stops a hung test).
func until(t *testing.T, what string, ch *child, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			out := ""
			if ch != nil {
				// Stopped first: its output is written until it ends.
				if ch.cmd.ProcessState == nil {
					_ = ch.cmd.Process.Kill()
					_ = ch.cmd.Wait()
				}
				out = ch.out.String() + ch.err.String()
				if b, err := os.ReadFile(ch.logFile); err == nil {
					out += "\nlog:\n" + string(b[max(0, len(b)-8000):])
				}
			}
			t.Fatalf("timed out waiting for %s\nchild output:\n%s", what, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// crashCLI is a cli over a simulated fleet, imported, with the fleet's
// credential in the environment, and a read handle on its database.
func crashCLI(t *testing.T, cfg winrmsim.Config) (*cli, *winrmsim.Fleet, *store.DB) {
	t.Helper()
	fleet := startFleet(t, cfg)
	c := newCLI(t)
	if code, _, errb := c.run("import", fleetCSV(t, fleet)); code != 0 {
		t.Fatalf("import: %s", errb)
	}
	c.env["RMM_WINRM_USER"], c.env["RMM_WINRM_PASSWORD"] = winrmsim.DefaultUser, winrmsim.DefaultPassword
	db, err := store.Open(context.Background(), filepath.Join(c.home, ".local", "share", "rmm", "rmm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return c, fleet, db
}

func TestARunKilledMidwayIsClosedAndAuditedAtTheNextStart(t *testing.T) {
	c, fleet, db := crashCLI(t, winrmsim.Config{Devices: 4, Seed: 5, ScriptTime: 20 * time.Second})
	ctx := context.Background()
	var hosts []string
	for _, h := range fleet.Hosts() {
		if h.Online {
			hosts = append(hosts, h.Hostname)
		}
	}
	cfg := filepath.Join(c.home, ".config", "rmm", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte("engine:\n  throttle: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"action", "run", "flush-dns", "--yes"}
	for _, h := range hosts {
		args = append(args, "--target", h)
	}
	ch := startChild(t, c, args...)
	// Two devices at a time: two rows Running, the others Pending.
	var runID string
	until(t, "two rows Running", ch, func() bool {
		runs, err := db.ListRuns(ctx, "", 1)
		if err != nil || len(runs) == 0 {
			return false
		}
		runID = runs[0].ID
		return runs[0].ByStatus[store.ActionRunning] == 2
	})
	ch.kill9(t)
	if run, _ := db.GetRun(ctx, runID); !run.FinishedAt.IsZero() {
		t.Fatal("the killed run says it finished")
	}

	if code, _, errb := c.run("queue", "--state", "all"); code != 0 { // any command with an engine starts recovery
		t.Fatalf("queue: %s", errb)
	}
	run, err := db.GetRun(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if run.FinishedAt.IsZero() || run.ByStatus[store.ActionRunning] != 0 || run.ByStatus[store.ActionPending] != 0 ||
		run.ByStatus[store.ActionFailed] != 2 || run.ByStatus[store.ActionCancelled] != len(hosts)-2 {
		t.Fatalf("after the next start: %+v; want the running rows Failed, the pending Cancelled, the run finished", run)
	}
	rows, _ := db.ListActionRows(ctx, store.ActionFilter{RunID: runID})
	for _, r := range rows {
		if !strings.Contains(r.Message, "ended") || !strings.Contains(r.Message, "crash or kill") {
			t.Errorf("row %s: message %q does not say what happened", r.Host, r.Message)
		}
	}
	audit, _ := db.ListAudit(ctx, store.AuditFilter{Action: "action.recovered"})
	if len(audit) != 1 || audit[0].Details["run"] != runID || audit[0].Via != "system" {
		t.Fatalf("recovery audit rows %+v", audit)
	}
	if code, out, errb := c.run("audit", "verify"); code != 0 {
		t.Errorf("audit verify: %s%s", out, errb)
	}
}

func TestAReplayKilledMidwayIsReplayedAgain(t *testing.T) {
	c, fleet, db := crashCLI(t, winrmsim.Config{Devices: 1, Seed: 6, ScriptTime: 3 * time.Second})
	ctx := context.Background()
	host := fleet.Hosts()[0].Hostname
	if err := fleet.SetOnline(host, false); err != nil {
		t.Fatal(err)
	}
	if code, out, errb := c.run("action", "run", "flush-dns", "--target", host, "--yes"); code != 0 || !strings.Contains(out+errb, "queued") {
		t.Fatalf("action run on an offline host: exit %d %s %s", code, out, errb)
	}
	if err := fleet.SetOnline(host, true); err != nil {
		t.Fatal(err)
	}
	ch := startChild(t, c, "poll")
	var entry store.QueueEntry
	until(t, "the queue entry Replaying", ch, func() bool {
		q, err := db.ListQueue(ctx, store.QueueReplaying)
		if err != nil || len(q) == 0 {
			return false
		}
		entry = q[0]
		return true
	})
	ch.kill9(t)

	code, out, errb := c.run("queue", "--state", "all", "--json")
	if code != 0 {
		t.Fatalf("queue: %s", errb)
	}
	var listed []struct {
		ID        int64  `json:"id"`
		State     string `json:"state"`
		LastError string `json:"last_error"`
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 1 {
		t.Fatalf("queue --json %q: %v", out, err)
	}
	if listed[0].ID != entry.ID || listed[0].State != store.QueuePending || !strings.Contains(listed[0].LastError, "interrupted") {
		t.Fatalf("after the next start the entry is %+v; want Pending again, saying it was interrupted", listed[0])
	}
	if a, _ := db.ListAudit(ctx, store.AuditFilter{Action: "queue.recovered"}); len(a) != 1 {
		t.Errorf("%d queue.recovered audit rows, want 1", len(a))
	}
	if code, _, errb := c.run("poll", "--once"); code != 0 {
		t.Fatalf("poll --once: %s", errb)
	}
	q, _ := db.GetQueueEntry(ctx, entry.ID)
	if q.State != store.QueueDone {
		t.Errorf("after a poll the entry is %s (%s), want Done", q.State, q.LastError)
	}
}

// TestThirtyFiveKillsInARowLeaveNoShellsBehind kills a polling rmm 35
// times, each time once its shells are open and running: before, every
// kill left one shell per host until WinRM's idle timeout, and after
// about 30 the hosts' quota (MaxShellsPerUser 30) refused every new one.
func TestThirtyFiveKillsInARowLeaveNoShellsBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("35 child processes")
	}
	c, fleet, db := crashCLI(t, winrmsim.Config{Devices: 3, Seed: 7, PSStart: time.Millisecond, ScriptTime: time.Millisecond})
	hosts := len(fleet.Hosts())
	maxOpen := int64(0)
	for i := range 35 {
		before := fleet.Stats().LoopStarts
		ch := startChild(t, c, "poll")
		// Each start deletes what the crash before it left: the child is
		// killed once its own shells run and the last one's are gone.
		until(t, fmt.Sprintf("start %d: its loops on every host and the shells of the kills before it deleted", i+1), ch, func() bool {
			st := fleet.Stats()
			maxOpen = max(maxOpen, st.ShellsOpen)
			return st.LoopStarts-before >= int64(hosts) && st.ShellsOpen == int64(hosts)
		})
		ch.kill9(t)
	}
	var out, errb bytes.Buffer
	code := Execute(context.Background(), []string{"poll", "--once", "--json"}, strings.NewReader(""), &out, &errb,
		func(k string) string { return c.env[k] })
	if code != 0 {
		t.Fatalf("poll --once after the kills: exit %d %s", code, errb.String())
	}
	var res struct {
		Online int `json:"online"`
		Pool   struct {
			QuotaHits int64 `json:"quota_hits"`
		} `json:"pool"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Online != hosts || res.Pool.QuotaHits != 0 {
		t.Fatalf("poll --once after the kills: %s (%v); want every host online and no quota hit", out.String(), err)
	}
	if open := fleet.Stats().ShellsOpen; open != 0 {
		t.Errorf("%d shells open after a clean run, want 0", open)
	}
	if recs, _ := db.Shells(context.Background()); len(recs) != 0 {
		t.Errorf("%d shell records left, want 0", len(recs))
	}
	if maxOpen > int64(2*hosts) {
		t.Errorf("at most %d shells open at once on %d hosts, want no more than 2 per host", maxOpen, hosts)
	}
	t.Logf("35 kills: at most %d shells open at once on %d hosts", maxOpen, hosts)
}
