package winrm

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/winrmsim"
)

// Code review B3: after a network blip every pooled shell is dropped, and
// dropLocked started one goroutine per shell (Signal, then Delete, each
// bounded by the cleanup timeout). Over 10,000 hosts that is 10,000
// goroutines at once. The drops now queue for at most closeWorkers
// workers (the throttle).
func TestDroppingEveryShellAfterANetworkBlipUsesABoundedNumberOfWorkers(t *testing.T) {
	const hosts, workers = 48, 4
	f, err := winrmsim.New(winrmsim.Config{Devices: hosts, Seed: 61, AllowUnencrypted: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	c, err := New(Options{Throttle: workers, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	cred := Credential{User: winrmsim.DefaultUser, Password: winrmsim.DefaultPassword}
	sc := NewScript("hostname", "hostname")
	for _, h := range f.Hosts() {
		tg := Target{Host: h.Hostname, Address: h.IP, Port: h.Port, AllowUnencrypted: true}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.Run(ctx, tg, cred, sc)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", h.Hostname, err)
		}
	}
	if open := c.pool.open.Load(); open != hosts {
		t.Fatalf("%d shells open, want %d", open, hosts)
	}
	// The blip: every host stops answering, and every shell is dropped.
	for _, h := range f.Hosts() {
		if err := f.SetFault(h.Hostname, winrmsim.FaultHang); err != nil {
			t.Fatal(err)
		}
	}
	before := runtime.NumGoroutine()
	p := c.pool
	p.mu.Lock()
	n := 0
	for _, slot := range p.slots {
		for _, s := range slot.idle {
			p.dropLocked(slot, s)
			n++
		}
		slot.idle = nil
	}
	queued, running := len(p.drops), p.dropWorkers
	p.mu.Unlock()
	grown := runtime.NumGoroutine() - before
	t.Logf("dropping %d shells: %d drop workers, %d queued, %d goroutines more", hosts, running, queued, grown)
	if n != hosts {
		t.Fatalf("dropped %d shells, want %d", n, hosts)
	}
	if running > workers || queued < hosts-workers {
		t.Errorf("%d drop workers running and %d shells queued, want at most %d workers", running, queued, workers)
	}
	// Goroutines the drops started (the workers, and what their first
	// requests start in the HTTP client and the simulator), not one per
	// shell.
	if grown > 4*workers {
		t.Errorf("dropping %d shells started %d goroutines, want at most %d", hosts, grown, 4*workers)
	}
	for _, h := range f.Hosts() {
		if err := f.SetFault(h.Hostname, winrmsim.FaultNone); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.pool.open.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d shells still open after the drops", c.pool.open.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The deletes in flight while the hosts hung may have timed out (the
	// shell stays on the host until its idle timeout); the rest are gone.
	if st := f.Stats(); st.ShellsOpen > workers {
		t.Errorf("the hosts still hold %d shells, want at most the %d whose delete hung", st.ShellsOpen, workers)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dropWorkers != 0 || len(p.drops) != 0 {
		t.Errorf("after the drops: %d workers, %d queued", p.dropWorkers, len(p.drops))
	}
}
