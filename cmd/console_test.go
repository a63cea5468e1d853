package cmd

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/csvimport"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
	"github.com/rmmhq/rmm/ui"
)

// TestConsoleShowsALiveFleetEndToEnd runs the whole stack for real: the
// simulated fleet over HTTP on loopback, the CSV import, SQLite, the
// engine polling, and the console in a real Bubble Tea program.
func TestConsoleShowsALiveFleetEndToEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fleet, err := winrmsim.New(winrmsim.Config{Devices: 20, Seed: 21, OfflineFraction: 0.2, AllowUnencrypted: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := fleet.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	online := 0
	var offlineHost string
	for _, h := range fleet.Hosts() {
		if h.Online {
			online++
		} else {
			offlineHost = h.Hostname
		}
	}

	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var buf bytes.Buffer
	if err := fleet.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	if _, _, err := csvimport.Import(ctx, db, "fleet.csv", &buf, csvimport.Options{}); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(ctx, db, engine.Options{
		Interval:   time.Second,
		Timeout:    5 * time.Second,
		Retries:    -1,
		Credential: engine.Credential{User: winrmsim.DefaultUser, Password: winrmsim.DefaultPassword},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()

	client := &countingClient{Engine: eng}
	model := ui.New(client, ui.Options{Title: "e2e", User: "tester", Role: "Admin"})
	defer model.Close()
	tm := teatest.NewTestModel(t, model, teatest.WithInitialTermSize(120, 40))

	// Before any poll every device is Unknown: 0 online.
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("0/20 online")) },
		teatest.WithDuration(10*time.Second))

	runDone := make(chan error, 1)
	go func() { runDone <- eng.Run(ctx) }()

	deadline := time.Now().Add(20 * time.Second)
	for eng.Summary().LastEnd.IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("no sweep finished")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Wait until the console has applied what the engine published up
	// to the end of that sweep: the feed reads the alerts with every
	// batch it drains, and drains the next only once the model applied
	// the one before. Of three drains after now, the second holds the
	// sweep's end (the first may have been taken just before it), and
	// the third shows the second was applied. Later sweeps (every
	// second) change nothing the screen is checked for.
	before := client.reads.Load()
	for client.reads.Load() < before+3 {
		if time.Now().After(deadline) {
			t.Fatalf("the console drained %d engine updates after the sweep, want 3", client.reads.Load()-before)
		}
		time.Sleep(5 * time.Millisecond)
	}

	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	final := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(ui.Model)
	screen := ansi.Strip(final.View().Content)
	for _, want := range []string{fmt.Sprintf("%d/20 online", online), offlineHost, "Offline", "Online", "tester (Admin)"} {
		if !strings.Contains(screen, want) {
			t.Errorf("final screen lacks %q:\n%s", want, screen)
		}
	}
	cancel()
	if err := <-runDone; err != nil {
		t.Fatalf("engine Run: %v", err)
	}
}

// countingClient is the engine as the console's client, counting the
// feed's reads of the alerts (one per drained batch of updates).
type countingClient struct {
	*engine.Engine
	reads atomic.Int32
}

func (c *countingClient) ActiveAlerts() []engine.Alert {
	c.reads.Add(1)
	return c.Engine.ActiveAlerts()
}
