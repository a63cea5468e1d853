package winrmsim

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestInventoryIsDeterministicPerSeedAndLooksLike51(t *testing.T) {
	a, _ := New(Config{Devices: 40, Seed: 21})
	b, _ := New(Config{Devices: 40, Seed: 21})
	at := a.epoch.Add(time.Hour)
	var unwrapped, dates, unavailable int
	for _, h := range a.Hosts() {
		for _, cat := range []string{"hardware", "software", "security", "network"} {
			da, ok := a.Inventory(h.Hostname, cat, at)
			if !ok {
				t.Fatalf("%s %s: no answer", h.Hostname, cat)
			}
			db, _ := b.Inventory(h.Hostname, cat, b.epoch.Add(time.Hour))
			if cat != "security" && string(da) != string(db) { // security carries the pending-reboot time
				t.Fatalf("%s %s differs between two fleets of one seed", h.Hostname, cat)
			}
			if !json.Valid(da) {
				t.Fatalf("%s %s: not JSON: %.200s", h.Hostname, cat, da)
			}
			s := string(da)
			dates += strings.Count(s, `"\/Date(`)
			unavailable += strings.Count(s, `{"unavailable":`)
			if strings.Contains(s, `"processors":{`) || strings.Contains(s, `"adapters":{`) || strings.Contains(s, `"battery":null`) {
				unwrapped++
			}
		}
	}
	if dates == 0 || unwrapped == 0 || unavailable == 0 {
		t.Errorf("5.1 quirks: %d /Date()/ values, %d unwrapped single items, %d unavailable parts; want some of each", dates, unwrapped, unavailable)
	}
	if _, ok := a.Inventory("WS-0001", "firmware", at); ok {
		t.Error("an unknown category answered")
	}
}

func TestInventoryFollowsTheRelease(t *testing.T) {
	f, _ := New(Config{Devices: 120, Seed: 2})
	at := f.epoch
	var old, w11 int
	for _, h := range f.hosts {
		var sw struct {
			OS struct {
				Build          string  `json:"build"`
				DisplayVersion *string `json:"display_version"`
			} `json:"os"`
			Applications []json.RawMessage `json:"applications"`
			Services     []json.RawMessage `json:"services"`
		}
		if err := json.Unmarshal(h.inventoryDoc(f, "software", at, at), &sw); err != nil {
			t.Fatal(err)
		}
		var sec struct {
			TPM struct {
				Present bool `json:"present"`
			} `json:"tpm"`
		}
		if err := json.Unmarshal(h.inventoryDoc(f, "security", at, at), &sec); err != nil {
			t.Fatal(err)
		}
		switch {
		case h.server2016():
			old++
			if sw.OS.DisplayVersion != nil {
				t.Errorf("%s (Server 2016) has DisplayVersion %q", h.name, *sw.OS.DisplayVersion)
			}
		case h.win11():
			w11++
			if sw.OS.DisplayVersion == nil || !sec.TPM.Present {
				t.Errorf("%s (Windows 11): display version %v, TPM %v", h.name, sw.OS.DisplayVersion, sec.TPM.Present)
			}
		}
		if sw.OS.Build != h.build() {
			t.Errorf("%s: build %s, release %s", h.name, sw.OS.Build, h.release.version)
		}
		if len(sw.Applications) < 50 || len(sw.Services) < 80 {
			t.Errorf("%s: %d applications, %d services; want realistic sizes", h.name, len(sw.Applications), len(sw.Services))
		}
	}
	if old == 0 || w11 == 0 {
		t.Fatalf("seed gave %d Server 2016 and %d Windows 11 hosts; want some of each", old, w11)
	}
}
