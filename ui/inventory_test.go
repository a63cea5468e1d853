package ui

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
)

// invClient is the full test client with stored inventory: CollectInventory
// stores the engine's hardware fixture for the device.
type invClient struct {
	*fullClient
	t     *testing.T
	mu    sync.Mutex
	docs  map[string]engine.InventoryDoc
	reads int
}

func newInvClient(t *testing.T, role engine.Role) *invClient {
	return &invClient{fullClient: newFullClient(detailFleet(), role), t: t, docs: map[string]engine.InventoryDoc{}}
}

func (c *invClient) StoredInventory(_ context.Context, id int64, cats []string) ([]engine.InventoryDoc, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
	var out []engine.InventoryDoc
	for _, cat := range engine.InventoryCategories() {
		d, ok := c.docs[cat]
		if !ok {
			d = engine.InventoryDoc{DeviceID: id, Category: cat}
		}
		out = append(out, d)
	}
	return out, nil
}

// Health adds availability to WS-0003's score.
func (c *invClient) Health(ctx context.Context, at time.Time) ([]engine.DeviceHealth, error) {
	hs, err := c.fullClient.Health(ctx, at)
	up, week, lat := 99.3, 97.5, 0.4
	for i := range hs {
		if hs[i].DeviceID == 3 {
			hs[i].Availability = engine.Availability{Uptime24h: &up, Uptime7d: &week, LatencyMS: &lat}
		}
	}
	return hs, err
}

func (c *invClient) Do(ctx context.Context, r engine.Request) (any, error) {
	ci, ok := r.(engine.CollectInventory)
	if !ok {
		return c.fullClient.Do(ctx, r)
	}
	c.fullClient.fmu.Lock()
	c.fullClient.requests = append(c.fullClient.requests, r)
	c.fullClient.fmu.Unlock()
	if c.role != 0 && !c.role.Can(r.Permission()) {
		return nil, &engine.DeniedError{Role: c.role, Action: r.Action()}
	}
	data, err := os.ReadFile(filepath.Join("..", "engine", "scripts", "testdata", "inventory_"+ci.Categories[0]+".json"))
	if err != nil {
		c.t.Error(err)
		return nil, err
	}
	c.mu.Lock()
	c.docs[ci.Categories[0]] = engine.InventoryDoc{Category: ci.Categories[0], Hostname: ci.Host, CollectedAt: t0.Add(-time.Minute), Data: data}
	c.mu.Unlock()
	return nil, nil
}

func TestDetailTabsShowInventoryAndCollectOnC(t *testing.T) {
	c := newInvClient(t, engine.RoleOperator)
	tm := startConsole(t, c, Options{Role: "Operator"}, 120, 40)
	waitFor(t, tm, "WS-0001")
	send(tm, "j", "j", "enter") // WS-0003
	waitFor(t, tm, "[Overview]", "Last 24 hours", "up 99.3% over 24 h, 97.5% over 7 d, TCP connect 0.4 ms")
	send(tm, "right")
	waitFor(t, tm, "[Hardware]", "not collected yet - press c to collect", "c collect")
	send(tm, "c")
	waitFor(t, tm, "Serial number", "0987-6543-2109-8765", "Volumes", "optical", "Memory modules", "press c to collect again")
	send(tm, "right", "right")
	waitFor(t, tm, "[Security]", "not collected yet")
	send(tm, "c")
	waitFor(t, tm, "Microsoft Defender", "unavailable: Get-MpComputerStatus is not available", "Firewall profiles", "Reboot        pending")
	send(tm, "right", "right")
	waitFor(t, tm, "[Alerts]", "Unresolved alerts")
	send(tm, "left", "left", "left", "left", "left")
	waitFor(t, tm, "[Overview]")
	m := finish(t, tm)
	if m.detail.tab != 0 {
		t.Errorf("tab %d after going round, want the overview", m.detail.tab)
	}
	var collects []engine.CollectInventory
	for _, r := range c.sent() {
		if ci, ok := r.(engine.CollectInventory); ok {
			collects = append(collects, ci)
		}
	}
	want := []engine.CollectInventory{{Host: "WS-0003", Categories: []string{"hardware"}, Force: true},
		{Host: "WS-0003", Categories: []string{"security"}, Force: true}}
	if len(collects) != 2 || collects[0].Host != want[0].Host || !slices.Equal(collects[0].Categories, want[0].Categories) ||
		!collects[0].Force || !slices.Equal(collects[1].Categories, want[1].Categories) {
		t.Errorf("collect requests %+v, want %+v", collects, want)
	}
}

func TestAViewerSeesTheInventoryHintGreyedAndCannotCollect(t *testing.T) {
	c := newInvClient(t, engine.RoleViewer)
	tm := startConsole(t, c, Options{Role: "Viewer"}, 120, 40)
	waitFor(t, tm, "WS-0001")
	send(tm, "j", "j", "enter")
	waitFor(t, tm, "[Overview]", "Last 24 hours")
	send(tm, "right")
	waitFor(t, tm, "not collected yet - press c to collect (needs the Operator role)")
	send(tm, "c")
	waitFor(t, tm, "collecting inventory needs the Operator role (you are Viewer)")
	m := finish(t, tm)
	if strings.Contains(lastLine(screenText(m)), "c collect") {
		t.Errorf("a Viewer is offered c collect: %q", lastLine(screenText(m)))
	}
	if c.docs["hardware"].Collected() {
		t.Error("the refused collect stored a document")
	}
}
