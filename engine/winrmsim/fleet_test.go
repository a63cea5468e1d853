package winrmsim

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestNewValidatesTheConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"accepts a minimal config", Config{Devices: 1}, ""},
		{"accepts another loopback address", Config{Devices: 1, ListenIP: "127.0.0.2"}, ""},
		{"refuses zero devices", Config{}, "Devices"},
		{"refuses a LAN address", Config{Devices: 1, ListenIP: "10.0.0.5"}, "127.0.0.0/8"},
		{"refuses the wildcard address", Config{Devices: 1, ListenIP: "0.0.0.0"}, "127.0.0.0/8"},
		{"refuses IPv6 loopback", Config{Devices: 1, ListenIP: "::1"}, "127.0.0.0/8"},
		{"refuses a host name", Config{Devices: 1, ListenIP: "localhost"}, "not an IP"},
		{"refuses an offline fraction above one", Config{Devices: 1, OfflineFraction: 1.5}, "OfflineFraction"},
		{"refuses ports past 65535", Config{Devices: 10, BasePort: 65530}, "BasePort"},
		{"refuses a negative RTT", Config{Devices: 1, RTT: -time.Second}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if f == nil {
					t.Fatal("New returned nil fleet")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestTheSameSeedBuildsTheSameHosts(t *testing.T) {
	a, _ := New(Config{Devices: 300, Seed: 42})
	b, _ := New(Config{Devices: 300, Seed: 42})
	c, _ := New(Config{Devices: 300, Seed: 43})
	if !slices.EqualFunc(a.Hosts(), b.Hosts(), sameHost) {
		t.Error("two fleets from seed 42 differ")
	}
	if slices.EqualFunc(a.Hosts(), c.Hosts(), sameHost) {
		t.Error("seeds 42 and 43 built identical fleets")
	}
	// Growing the fleet keeps the hosts it had.
	big, _ := New(Config{Devices: 400, Seed: 42})
	if !slices.EqualFunc(a.Hosts(), big.Hosts()[:300], sameHost) {
		t.Error("the first 300 hosts of a 400-host fleet differ from a 300-host fleet")
	}
}

func sameHost(x, y HostInfo) bool {
	return x.Hostname == y.Hostname && x.MAC == y.MAC && x.Site == y.Site && x.OSName == y.OSName &&
		x.OSVersion == y.OSVersion && slices.Equal(x.Tags, y.Tags) && x.Online == y.Online
}

func TestHostsLookLikeAWindowsFleet(t *testing.T) {
	f, err := New(Config{Devices: 2000, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	nameRe := regexp.MustCompile(`^(WS|SRV)-\d{4}$`)
	versions := map[string]bool{"10.0.19045": true, "10.0.22631": true, "10.0.26100": true, "10.0.14393": true, "10.0.17763": true, "10.0.20348": true}
	sites := map[string]bool{}
	for _, s := range siteNames {
		sites[s] = true
	}
	names, macs := map[string]bool{}, map[string]bool{}
	var servers, tagged int
	seenVersion := map[string]bool{}
	for _, h := range f.Hosts() {
		if !nameRe.MatchString(h.Hostname) {
			t.Errorf("host name %q is not WS-nnnn or SRV-nnnn", h.Hostname)
		}
		if names[h.Hostname] || macs[h.MAC] {
			t.Errorf("%s: duplicate name or MAC %s", h.Hostname, h.MAC)
		}
		names[h.Hostname], macs[h.MAC] = true, true
		if !versions[h.OSVersion] {
			t.Errorf("%s: unexpected OS version %s", h.Hostname, h.OSVersion)
		}
		seenVersion[h.OSVersion] = true
		if !sites[h.Site] {
			t.Errorf("%s: unexpected site %s", h.Hostname, h.Site)
		}
		if h.Server != strings.HasPrefix(h.Hostname, "SRV-") || h.Server != strings.Contains(h.OSName, "Server") {
			t.Errorf("%s: server flag, name and OS disagree (%s)", h.Hostname, h.OSName)
		}
		if h.Server {
			servers++
		}
		if len(h.Tags) > 0 {
			tagged++
		}
		if h.Transport != "http" || h.IP != "127.0.0.1" || !h.Online {
			t.Errorf("%s: transport %q ip %q online %v", h.Hostname, h.Transport, h.IP, h.Online)
		}
	}
	if len(seenVersion) != len(versions) {
		t.Errorf("saw OS versions %v, want all of %v", seenVersion, versions)
	}
	if servers < 200 || servers > 600 {
		t.Errorf("%d servers of 2000, want roughly a fifth", servers)
	}
	if tagged < 200 || tagged > 1500 {
		t.Errorf("%d tagged hosts of 2000, want some but not all", tagged)
	}
}

func TestOfflineFractionTakesHostsOffTheNetwork(t *testing.T) {
	f := startFleet(t, Config{Devices: 40, Seed: 3, OfflineFraction: 0.25})
	var offline []HostInfo
	for _, h := range f.Hosts() {
		if h.Port == 0 {
			t.Errorf("%s has no port", h.Hostname)
		}
		if !h.Online {
			offline = append(offline, h)
		}
	}
	if len(offline) != 10 {
		t.Fatalf("%d hosts offline, want 10", len(offline))
	}
	if s := f.Stats(); s.Online != 30 || s.Hosts != 40 {
		t.Errorf("Stats: %d of %d online, want 30 of 40", s.Online, s.Hosts)
	}
	for _, h := range offline {
		if err := dial(h); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("%s: dial = %v, want connection refused", h.Hostname, err)
		}
	}
}

func dial(h HostInfo) error {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(h.IP, strconv.Itoa(h.Port)), 2*time.Second)
	if err == nil {
		c.Close()
	}
	return err
}

func TestSetOnlineRefusesConnectionsAndComesBackOnTheSamePort(t *testing.T) {
	f := startFleet(t, Config{Devices: 3, Seed: 1})
	h := f.Hosts()[1]
	client := newClient(t, h, DefaultUser, DefaultPassword, nil)
	if out, _, _, err := client.RunCmdWithContext(context.Background(), "hostname"); err != nil || out != h.Hostname+"\r\n" {
		t.Fatalf("hostname before going offline = %q, %v", out, err)
	}

	if err := f.SetOnline(h.Hostname, false); err != nil {
		t.Fatalf("SetOnline(false): %v", err)
	}
	if err := dial(h); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial offline host = %v, want connection refused", err)
	}
	if _, _, _, err := client.RunCmdWithContext(context.Background(), "hostname"); err == nil {
		t.Fatal("a command reached an offline host")
	}
	if info, _ := f.Host(h.Hostname); info.Online {
		t.Error("Host reports the host online")
	}

	if err := f.SetOnline(h.Hostname, true); err != nil {
		t.Fatalf("SetOnline(true): %v", err)
	}
	info, _ := f.Host(h.Hostname)
	if info.Port != h.Port || !info.Online {
		t.Fatalf("back online on port %d (online %v), want port %d", info.Port, info.Online, h.Port)
	}
	if out, _, _, err := client.RunCmdWithContext(context.Background(), "hostname"); err != nil || out != h.Hostname+"\r\n" {
		t.Fatalf("hostname after coming back = %q, %v", out, err)
	}
	if err := f.SetOnline("NO-SUCH-HOST", false); err == nil {
		t.Error("SetOnline accepted an unknown host")
	}
}

// An offline host's port stays bound (not listening): a connection is
// refused, and nobody else can listen on the port meanwhile, so a
// parallel test process's fleet cannot take it and answer as the
// "offline" host. Both a host taken offline and one offline from Start,
// twice over (offline, online, offline again), with a server-side
// TIME_WAIT on the port from the connection the host cut.
func TestAnOfflineHostKeepsItsPortFromEveryoneElse(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ports are kept while offline on Linux only (portpark_other.go)")
	}
	f := startFleet(t, Config{Devices: 8, Seed: 3, OfflineFraction: 0.25})
	var started, online HostInfo
	for _, h := range f.Hosts() {
		if !h.Online && started.Hostname == "" {
			started = h
		}
		if h.Online && online.Hostname == "" {
			online = h
		}
	}
	client := newClient(t, online, DefaultUser, DefaultPassword, nil)
	takenBy := func(h HostInfo) error {
		ln, err := net.Listen("tcp4", net.JoinHostPort(h.IP, strconv.Itoa(h.Port)))
		if err == nil {
			ln.Close()
		}
		return err
	}
	check := func(h HostInfo, when string) {
		t.Helper()
		if err := dial(h); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("%s %s: dial = %v, want connection refused", h.Hostname, when, err)
		}
		if err := takenBy(h); !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("%s %s: another listener on its port: %v, want address in use", h.Hostname, when, err)
		}
	}
	check(started, "offline from the start")
	for round := range 2 {
		// A kept connection, cut by going offline.
		if _, _, _, err := client.RunCmdWithContext(context.Background(), "hostname"); err != nil {
			t.Fatalf("round %d: hostname before going offline: %v", round, err)
		}
		if err := f.SetOnline(online.Hostname, false); err != nil {
			t.Fatal(err)
		}
		check(online, fmt.Sprintf("taken offline (round %d)", round))
		// The client finds its kept connection cut, and cannot reconnect.
		if _, _, _, err := client.RunCmdWithContext(context.Background(), "hostname"); err == nil {
			t.Fatalf("round %d: a command reached the offline host", round)
		}
		if err := f.SetOnline(online.Hostname, true); err != nil {
			t.Fatalf("round %d: back online: %v", round, err)
		}
		if out, _, _, err := client.RunCmdWithContext(context.Background(), "hostname"); err != nil || out != online.Hostname+"\r\n" {
			t.Fatalf("round %d: hostname after coming back = %q, %v", round, out, err)
		}
	}
	if err := f.SetOnline(started.Hostname, true); err != nil {
		t.Fatalf("the host offline from the start cannot come online: %v", err)
	}
	if err := dial(started); err != nil {
		t.Errorf("%s back online: dial = %v", started.Hostname, err)
	}
	f.Close()
	for _, h := range []HostInfo{started, online} {
		if err := takenBy(h); err != nil {
			t.Errorf("%s: its port is still held after Close: %v", h.Hostname, err)
		}
	}
}

func TestWriteCSVListsEveryHostForImport(t *testing.T) {
	f := startFleet(t, Config{Devices: 25, Seed: 11})
	var buf bytes.Buffer
	if err := f.WriteCSV(&buf); err != nil {
		t.Fatalf("WriteCSV: %v", err)
	}
	text := buf.String()
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not parse: %v", err)
	}
	wantHeader := []string{"Hostname", "IPAddress", "Port", "Transport", "Site", "OSName", "OSVersion", "MACAddress", "Tags", "AllowUnencrypted", "FQDN", "Auth"}
	if !slices.Equal(rows[0], wantHeader) {
		t.Fatalf("header = %v, want %v", rows[0], wantHeader)
	}
	hosts := f.Hosts()
	if len(rows) != len(hosts)+1 {
		t.Fatalf("%d rows, want %d", len(rows)-1, len(hosts))
	}
	multiTag := false
	for i, h := range hosts {
		want := []string{h.Hostname, h.IP, strconv.Itoa(h.Port), "http", h.Site, h.OSName, h.OSVersion, h.MAC, strings.Join(h.Tags, ","), "true", "", ""}
		if !slices.Equal(rows[i+1], want) {
			t.Errorf("row %d = %v, want %v", i+1, rows[i+1], want)
		}
		multiTag = multiTag || len(h.Tags) > 1
	}
	if multiTag && !strings.Contains(text, `,"`) {
		// A list of tags holds a comma and so must be quoted.
		t.Error("no quoted tag list in the CSV")
	}
}

func TestWriteCSVNeedsPorts(t *testing.T) {
	f, _ := New(Config{Devices: 2})
	if err := f.WriteCSV(&bytes.Buffer{}); err == nil {
		t.Error("WriteCSV before Start succeeded with port 0")
	}
	g, _ := New(Config{Devices: 2, BasePort: 45000})
	var buf bytes.Buffer
	if err := g.WriteCSV(&buf); err != nil {
		t.Fatalf("WriteCSV with BasePort: %v", err)
	}
	if !strings.Contains(buf.String(), ",45001,") {
		t.Errorf("the second host is not on BasePort+1:\n%s", buf.String())
	}
}

func TestStartTwiceAndAfterCloseFail(t *testing.T) {
	f, _ := New(Config{Devices: 1})
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err == nil {
		t.Error("a second Start succeeded")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	if err := f.SetOnline(f.Hosts()[0].Hostname, false); err == nil {
		t.Error("SetOnline after Close succeeded")
	}
	g, _ := New(Config{Devices: 1})
	_ = g.Close()
	if err := g.Start(context.Background()); err == nil {
		t.Error("Start after Close succeeded")
	}
}

func TestCancellingTheStartContextStopsTheFleet(t *testing.T) {
	f, _ := New(Config{Devices: 2})
	ctx, cancel := context.WithCancel(context.Background())
	if err := f.Start(ctx); err != nil {
		t.Fatal(err)
	}
	h := f.Hosts()[0]
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for dial(h) == nil {
		if time.Now().After(deadline) {
			t.Fatal("the fleet still accepts connections after its context was cancelled")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := f.Close(); err != nil {
		t.Errorf("Close after cancel: %v", err)
	}
}

func TestStartAndCloseOf2000HostsLeavesNoGoroutines(t *testing.T) {
	before := settledGoroutines(0)
	f, err := New(Config{Devices: 2000, Seed: 5, OfflineFraction: 0.1, AllowUnencrypted: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Leave a few keep-alive connections and a waiting Receive behind.
	for _, h := range f.Hosts()[:5] {
		if !h.Online {
			continue
		}
		c := newRawClient(t, h)
		shell := c.createShell(t)
		cmd := c.command(t, shell, "more")
		go func() { _, _, _ = c.tryPost(receiveRequest(c, shell, cmd, "PT30S"), nil) }()
	}
	time.Sleep(50 * time.Millisecond)
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	after := settledGoroutines(before)
	if after > before {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("%d goroutines before Start, %d after Close\n%s", before, after, buf[:n])
	}
}

// settledGoroutines waits (up to a few seconds) for the goroutine count to
// fall to target, and returns it.
func settledGoroutines(target int) int {
	n := runtime.NumGoroutine()
	for range 300 {
		if target > 0 && n <= target {
			return n
		}
		time.Sleep(10 * time.Millisecond)
		m := runtime.NumGoroutine()
		if target == 0 && m == n {
			return n
		}
		n = m
	}
	return n
}
