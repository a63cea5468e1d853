package winrmsim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// ctl calls the control endpoint and decodes its JSON answer.
func ctl(t *testing.T, srv *httptest.Server, method, path string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusMethodNotAllowed && ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q", method, path, ct)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

func TestControlEndpointRoutes(t *testing.T) {
	f := startFleet(t, Config{Devices: 4, Seed: 12, RebootDowntime: 200 * time.Millisecond, Logf: t.Logf})
	srv := httptest.NewServer(f.ControlHandler()) // 127.0.0.1
	t.Cleanup(srv.Close)

	var routes struct{ Routes []string }
	if ctl(t, srv, "GET", "/", &routes) != 200 || len(routes.Routes) < 8 {
		t.Fatalf("GET /: %v", routes)
	}
	var hosts []ControlHost
	if ctl(t, srv, "GET", "/hosts", &hosts) != 200 || len(hosts) != 4 || hosts[0].Port == 0 || hosts[0].Power != "on" {
		t.Fatalf("GET /hosts: %+v", hosts)
	}
	name := hosts[2].Hostname
	hi, _ := f.Host(name)

	var one ControlHost
	if ctl(t, srv, "GET", "/hosts/"+strings.ToLower(name), &one) != 200 || one.Hostname != name || one.RDPEnabled == nil || one.Services < 100 || one.LastBoot == "" {
		t.Fatalf("GET /hosts/%s: %+v", name, one)
	}
	var svcs []serviceJSON
	if ctl(t, srv, "GET", "/hosts/"+name+"/services", &svcs) != 200 || len(svcs) != one.Services {
		t.Fatalf("services: %d, detail says %d", len(svcs), one.Services)
	}
	var e struct {
		OK    bool
		Error string
	}
	if ctl(t, srv, "GET", "/hosts/NOPE-1", &e) != 404 || e.OK || !strings.Contains(e.Error, "unknown host") {
		t.Fatalf("unknown host: %+v", e)
	}
	if ctl(t, srv, "GET", "/hosts/"+name+"/reboot", nil) != http.StatusMethodNotAllowed {
		t.Fatalf("GET on a POST route was not refused")
	}

	var r struct {
		OK   bool
		Host ControlHost
	}
	if ctl(t, srv, "POST", "/hosts/"+name+"/offline", &r) != 200 || !r.OK || r.Host.Online || dialable(hi) {
		t.Fatalf("offline: %+v", r)
	}
	if ctl(t, srv, "POST", "/hosts/"+name+"/reboot", &e) != 409 || !strings.Contains(e.Error, "offline") {
		t.Fatalf("reboot of an offline host: %+v", e)
	}
	if ctl(t, srv, "POST", "/hosts/"+name+"/online", &r) != 200 || !r.Host.Online || !dialable(hi) {
		t.Fatalf("online: %+v", r)
	}

	if ctl(t, srv, "POST", "/hosts/"+name+"/fault?kind=http500", &r) != 200 || r.Host.Fault != "http500" {
		t.Fatalf("fault: %+v", r)
	}
	if got, _ := f.Host(name); got.Fault != FaultHTTP500 {
		t.Fatalf("fault not set: %q", got.Fault)
	}
	if ctl(t, srv, "POST", "/hosts/"+name+"/fault?kind=bogus", &e) != 400 {
		t.Fatalf("bogus fault accepted")
	}
	if ctl(t, srv, "POST", "/hosts/"+name+"/fault?kind=none", &r) != 200 || r.Host.Fault != "" {
		t.Fatalf("fault none: %+v", r)
	}

	bootBefore := one.LastBoot
	if ctl(t, srv, "POST", "/hosts/"+name+"/reboot", &r) != 200 || r.Host.Power != "rebooting" {
		t.Fatalf("reboot: %+v", r)
	}
	waitFor(t, "host back after reboot", func() bool {
		var h ControlHost
		ctl(t, srv, "GET", "/hosts/"+name, &h)
		return h.Power == "on" && h.Online && h.LastBoot != bootBefore
	})

	if ctl(t, srv, "POST", "/hosts/"+name+"/wake", &e) != 409 {
		t.Fatalf("wake of a running host: %+v", e)
	}
	if ctl(t, srv, "POST", "/hosts/"+name+"/shutdown", &r) != 200 {
		t.Fatalf("shutdown: %+v", r)
	}
	waitFor(t, "host off", func() bool {
		var h ControlHost
		ctl(t, srv, "GET", "/hosts/"+name, &h)
		return h.Power == "off" && !h.Online
	})
	if ctl(t, srv, "POST", "/hosts/"+name+"/wake", &r) != 200 || r.Host.Power != "booting" {
		t.Fatalf("wake: %+v", r)
	}
	waitFor(t, "host up after wake", func() bool { return dialable(hi) })

	if ctl(t, srv, "POST", "/hosts/"+name+"/logon", &r) != 200 {
		t.Fatalf("logon: %+v", r)
	}
	ctl(t, srv, "GET", "/hosts/"+name, &one)
	if one.Sessions == nil || *one.Sessions != 1 {
		t.Fatalf("sessions after logon: %v", one.Sessions)
	}

	var w WakeStats
	if ctl(t, srv, "GET", "/wake", &w) != 200 || w.Addr != f.WakeAddr() || !strings.HasPrefix(w.Addr, "127.0.0.1:") {
		t.Fatalf("GET /wake: %+v", w)
	}
}

func TestConfigRefusesNonLoopbackWakeListen(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:9", "10.0.0.1:9", "[::1]:9", "127.0.0.1", "localhost:9"} {
		if _, err := New(Config{Devices: 1, WakeListen: addr}); err == nil {
			t.Errorf("WakeListen %q accepted", addr)
		}
	}
	if _, err := New(Config{Devices: 1, RebootDowntime: -time.Second}); err == nil {
		t.Errorf("negative RebootDowntime accepted")
	}
	f := startFleet(t, Config{Devices: 1, WakeListen: "127.0.0.1:0"})
	if !strings.HasPrefix(f.WakeAddr(), "127.0.0.1:") {
		t.Fatalf("WakeAddr %q", f.WakeAddr())
	}
}
