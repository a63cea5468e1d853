package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func waitReload(t *testing.T, w *Watcher) Reload {
	t.Helper()
	select {
	case r := <-w.Reloads():
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no reload within 5s")
	}
	return Reload{}
}

func startWatch(t *testing.T, doc string) (*Watcher, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, testDirs, false)
	if err != nil {
		t.Fatal(err)
	}
	w, err := Watch(path, testDirs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w, path
}

func TestAValidEditTakesEffectWithItsChanges(t *testing.T) {
	w, path := startWatch(t, "engine:\n  throttle: 50\n")
	if err := os.WriteFile(path, []byte("engine:\n  throttle: 120\nlog:\n  level: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := waitReload(t, w)
	if r.Err != nil {
		t.Fatalf("reload error: %v", r.Err)
	}
	if r.Config.Engine.Throttle != 120 || w.Current().Engine.Throttle != 120 {
		t.Fatalf("throttle = %d", r.Config.Engine.Throttle)
	}
	got := []string{}
	for _, c := range r.Changes {
		got = append(got, c.String())
	}
	want := "engine.throttle: 50 -> 120|log.level: info -> debug"
	if strings.Join(got, "|") != want {
		t.Fatalf("changes %q, want %q", got, want)
	}
}

func TestAnInvalidEditIsRejectedAndTheRunningConfigStays(t *testing.T) {
	w, path := startWatch(t, "engine:\n  throttle: 50\n")
	if err := os.WriteFile(path, []byte("engine:\n  throttle: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := waitReload(t, w)
	if r.Err == nil || !strings.Contains(r.Err.Error(), "config.yaml:2: engine.throttle: 0 is out of range 1..1000") {
		t.Fatalf("reload error %v, want the line and key", r.Err)
	}
	if r.Config.Engine.Throttle != 50 || w.Current().Engine.Throttle != 50 {
		t.Fatalf("running config changed to %d", w.Current().Engine.Throttle)
	}
}

func TestAnEditorStyleRenameIsSeen(t *testing.T) {
	w, path := startWatch(t, "org: before\n")
	tmp := filepath.Join(filepath.Dir(path), ".config.yaml.swp")
	if err := os.WriteFile(tmp, []byte("org: after\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	r := waitReload(t, w)
	if r.Err != nil || r.Config.Org != "after" {
		t.Fatalf("reload %+v", r)
	}
}

func TestKeysThatNeedARestartAreReportedAndKept(t *testing.T) {
	w, path := startWatch(t, "store:\n  db: /a/rmm.db\n")
	if err := os.WriteFile(path, []byte("store:\n  db: /b/rmm.db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := waitReload(t, w)
	if len(r.Changes) != 1 || !r.Changes[0].RestartNeeded {
		t.Fatalf("changes %+v", r.Changes)
	}
	if w.Current().Store.DB != "/a/rmm.db" {
		t.Fatalf("running db path changed to %s", w.Current().Store.DB)
	}
}

func TestAnUnrelatedFileInTheDirectoryIsIgnored(t *testing.T) {
	w, path := startWatch(t, "org: x\n")
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "other.yaml"), []byte("org: y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-w.Reloads():
		t.Fatalf("reload for another file: %+v", r)
	case <-time.After(500 * time.Millisecond):
	}
}
