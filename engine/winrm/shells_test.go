package winrm_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/engine/winrmsim"
)

// shellLog records the pool's shell events, as the engine's records do.
type shellLog struct {
	mu             sync.Mutex
	opened, closed []string
}

func (l *shellLog) options(o winrm.Options) winrm.Options {
	o.OnShellCreate = func(_ context.Context, s winrm.ShellRef) func(string, bool) {
		if s.ShellID != "" {
			panic("a shell id before the host was asked")
		}
		return func(id string, _ bool) {
			if id == "" {
				return
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			l.opened = append(l.opened, id)
		}
	}
	o.OnShellClosed = func(s winrm.ShellRef) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.closed = append(l.closed, s.ShellID)
	}
	return o
}

func (l *shellLog) lists() (opened, closed []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.opened), slices.Clone(l.closed)
}

func TestThePoolReportsEveryShellItOpensAndDeletes(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 2, Seed: 3})
	var log shellLog
	c, err := winrm.New(log.options(winrm.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range f.Hosts() {
		if _, err := c.Run(context.Background(), targetOf(h), simCred, hostnameScript); err != nil {
			t.Fatal(err)
		}
	}
	opened, _ := log.lists()
	if len(opened) != 2 {
		t.Fatalf("%d shells reported opened, want 2", len(opened))
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, closed := log.lists()
	slices.Sort(opened)
	slices.Sort(closed)
	if !slices.Equal(opened, closed) {
		t.Errorf("closed %v, want every opened shell %v", closed, opened)
	}
}

func TestListShellsAndDeleteShellReachWhatACrashedClientLeft(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 3})
	h := f.Hosts()[0]
	var log shellLog
	// A client that "crashes": it is never closed, its shells stay.
	crashed, err := winrm.New(log.options(winrm.Options{SessionsPerHost: 3}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crashed.Run(context.Background(), targetOf(h), simCred, hostnameScript); err != nil {
		t.Fatal(err)
	}
	leftover, _ := log.lists()

	c := newClient(t, winrm.Options{})
	shells, err := c.ListShells(context.Background(), targetOf(h), simCred)
	if err != nil {
		t.Fatal(err)
	}
	if len(shells) != 1 || shells[0].ID != leftover[0] || shells[0].ClientIP != "127.0.0.1" ||
		shells[0].Owner != h.Hostname+`\`+winrmsim.DefaultUser || shells[0].ResourceURI != "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd" {
		t.Fatalf("listed %+v, want the leftover shell %s", shells, leftover[0])
	}
	if err := c.DeleteShell(context.Background(), targetOf(h), simCred, leftover[0]); err != nil {
		t.Fatal(err)
	}
	if hs := hostStats(t, f, h.Hostname); hs.ShellsOpen != 0 {
		t.Errorf("%d shells open after the delete", hs.ShellsOpen)
	}
	if err := c.DeleteShell(context.Background(), targetOf(h), simCred, leftover[0]); err != nil {
		t.Errorf("deleting a shell that is gone: %v, want no error", err)
	}
}

func TestAQuotaFaultReclaimsOrphanedShellsAndTheRequestGoesThrough(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 3, MaxShellsPerUser: 4})
	h := f.Hosts()[0]
	// Four "crashed" clients fill the host's quota of four.
	for range 4 {
		crashed, err := winrm.New(winrm.Options{SessionsPerHost: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := crashed.Run(context.Background(), targetOf(h), simCred, hostnameScript); err != nil {
			t.Fatal(err)
		}
	}
	var asked []winrm.ShellInfo
	var log shellLog
	o := log.options(winrm.Options{})
	o.OrphanShells = func(_ context.Context, _ winrm.ShellRef, shells []winrm.ShellInfo, _ time.Time) []string {
		asked = shells
		var ids []string
		for _, s := range shells[:2] { // the engine says two of them are orphans
			ids = append(ids, s.ID)
		}
		return ids
	}
	c := newClient(t, o)
	if _, err := c.Run(context.Background(), targetOf(h), simCred, hostnameScript); err != nil {
		t.Fatalf("run on a host whose quota orphans held: %v", err)
	}
	if len(asked) != 4 {
		t.Errorf("the engine was asked about %d shells, want the 4 of this account and client", len(asked))
	}
	st := c.Stats()
	if st.Reclaimed != 2 || st.QuotaHits != 0 {
		t.Errorf("reclaimed %d, quota hits %d; want 2 and 0 (the retry went through)", st.Reclaimed, st.QuotaHits)
	}
	if hs := hostStats(t, f, h.Hostname); hs.ShellsOpen != 3 {
		t.Errorf("%d shells open, want 3 (2 orphans left, 1 new)", hs.ShellsOpen)
	}
}

// TestADeleteRefusedByABusyHostIsTriedAgainAtClose: a host that answers
// the Close's Delete with HTTP 500 (busy, a proxy hiccup) and then
// recovers has its shell deleted, not left open until its idle timeout
// (rmm bench sweep left 12-262 shells open on a loaded machine).
func TestADeleteRefusedByABusyHostIsTriedAgainAtClose(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 3})
	h := f.Hosts()[0]
	c, err := winrm.New(winrm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(context.Background(), targetOf(h), simCred, hostnameScript); err != nil {
		t.Fatal(err)
	}
	if err := f.SetFault(h.Hostname, winrmsim.FaultHTTP500); err != nil {
		t.Fatal(err)
	}
	recovered := make(chan struct{})
	go func() { // the host recovers once it has refused the first Delete
		defer close(recovered)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if hs, _ := f.HostStats(h.Hostname); hs.Injected >= 1 {
				break
			}
		}
		_ = f.SetFault(h.Hostname, winrmsim.FaultNone)
	}()
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-recovered
	if open := hostStats(t, f, h.Hostname).ShellsOpen; open != 0 {
		t.Errorf("%d shells open after Close, want 0", open)
	}
	if st := c.Stats(); st.DeleteRetries < 1 || st.DeletesFailed != 0 {
		t.Errorf("delete retries %d, failed %d; want at least 1 and 0", st.DeleteRetries, st.DeletesFailed)
	}
}

func TestTheRemoteShellPanesShellsAreReportedToo(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 3})
	h := f.Hosts()[0]
	var log shellLog
	c := newClient(t, log.options(winrm.Options{}))
	s, err := c.OpenSession(context.Background(), targetOf(h), simCred)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(context.Background(), hostnameScript); err != nil {
		t.Fatal(err)
	}
	s.Close()
	opened, closed := log.lists()
	if len(opened) != 1 || !slices.Equal(opened, closed) {
		t.Errorf("opened %v, closed %v; want the pane's one shell in both", opened, closed)
	}
}

func TestUnpooledShellsAreReportedToo(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 3})
	var log shellLog
	c := newClient(t, log.options(winrm.Options{Unpooled: true}))
	if _, err := c.Run(context.Background(), targetOf(f.Hosts()[0]), simCred, hostnameScript); err != nil {
		t.Fatal(err)
	}
	opened, closed := log.lists()
	if len(opened) != 1 || !slices.Equal(opened, closed) {
		t.Errorf("opened %v, closed %v; want the run's one shell in both", opened, closed)
	}
}

// TestAShellWhoseCreateAnswerWasLostIsDeletedAtClose: the host made a
// shell after the client gave up waiting for the Create's answer (a host
// slower than the request's deadline, as on a loaded machine): Close
// lists the host's shells and deletes it, rather than leave it open until
// WinRM's idle timeout.
func TestAShellWhoseCreateAnswerWasLostIsDeletedAtClose(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 3, RTT: 300 * time.Millisecond})
	h := f.Hosts()[0]
	var asked []time.Time
	c, err := winrm.New(winrm.Options{Timeout: 150 * time.Millisecond,
		OrphanShells: func(_ context.Context, at winrm.ShellRef, shells []winrm.ShellInfo, since time.Time) []string {
			asked = append(asked, since)
			var ids []string
			for _, s := range shells {
				ids = append(ids, s.ID)
			}
			return ids
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond) // the engine's request deadline
	_, err = c.Run(ctx, targetOf(h), simCred, hostnameScript)
	cancel()
	if err == nil {
		t.Fatal("a run on a host slower than its deadline worked")
	}
	waitFor(t, "the host to make the shell the client gave up on", func() bool { return hostStats(t, f, h.Hostname).ShellsOpen == 1 })
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if open := hostStats(t, f, h.Hostname).ShellsOpen; open != 0 || len(asked) != 1 || asked[0].IsZero() {
		t.Errorf("%d shells open after Close, engine asked %v; want 0 after one question about the lost Create", open, asked)
	}
	if st := c.Stats(); st.Reclaimed != 1 {
		t.Errorf("reclaimed %d, want 1", st.Reclaimed)
	}
}
