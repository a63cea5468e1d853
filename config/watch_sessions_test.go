package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestSessionSettingsNeedARestartAndKeepTheirRunningValues(t *testing.T) {
	w, path := startWatch(t, "engine:\n  throttle: 50\nsessions:\n  ttl: 6m\n  per_host: 2\n")
	if err := os.WriteFile(path, []byte("engine:\n  throttle: 60\nsessions:\n  ttl: 10m\n  per_host: 4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := waitReload(t, w)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	var got []string
	for _, c := range r.Changes {
		got = append(got, c.String())
	}
	want := "engine.throttle: 50 -> 60|" +
		"sessions.per_host: 2 -> 4 (takes effect after a restart)|" +
		"sessions.ttl: 6m0s -> 10m0s (takes effect after a restart)"
	if strings.Join(got, "|") != want {
		t.Errorf("changes\n got %s\nwant %s", strings.Join(got, "|"), want)
	}
	cur := w.Current()
	if cur.Engine.Throttle != 60 || cur.Sessions.TTL != 6*time.Minute || cur.Sessions.PerHost != 2 {
		t.Errorf("current config: throttle %d, ttl %s, per_host %d; want 60 and the running 6m, 2",
			cur.Engine.Throttle, cur.Sessions.TTL, cur.Sessions.PerHost)
	}
}
