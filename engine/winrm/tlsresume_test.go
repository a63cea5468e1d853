package winrm_test

import (
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/engine/winrmsim"
)

// httpsPair starts two HTTPS hosts of a profile and a client trusting
// their CA that keeps at most one idle connection (so one idle TLS
// connection) between runs.
func httpsPair(t *testing.T, profile string) (*winrmsim.Fleet, *winrm.Client, [2]winrm.Target) {
	t.Helper()
	f := startFleet(t, winrmsim.Config{Devices: 2, Seed: 7, Profile: profile, TLS: &winrmsim.TLSOptions{}})
	c := newClient(t, winrm.Options{MaxIdleConns: 1})
	if err := c.SetTransportOptions(winrm.TransportOptions{CABundle: writePEM(t, f.CA().CertPEM())}); err != nil {
		t.Fatal(err)
	}
	hs := f.Hosts()
	return f, c, [2]winrm.Target{targetOf(hs[0]), targetOf(hs[1])}
}

func TestAHostWithTLS13ResumesTheSessionOfItsLastConnection(t *testing.T) {
	tests := []struct {
		profile              string
		wantFull, wantResume int64 // host b's handshakes after two runs
	}{
		// Windows 11 and Server 2022+ serve TLS 1.3 and resume from their
		// session cache: the second connection is abbreviated.
		{"win11", 1, 1},
		{"server2022", 1, 1},
		// Server 2019 stops at TLS 1.2 and WinRM's listener issues no
		// session ticket: every connection is a full handshake.
		{"server2019", 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			f, c, tg := httpsPair(t, tt.profile)
			a, b := tg[0], tg[1]
			// a's connection takes the one idle place; b's is closed
			// after each run and b's second run connects again.
			for range 2 {
				mustRun(t, c, a)
				mustRun(t, c, b)
			}
			hs := hostStats(t, f, b.Host)
			if hs.Connections != 2 || hs.TLSFullHandshakes != tt.wantFull || hs.TLSResumed != tt.wantResume {
				t.Fatalf("host b: %d connections, %d full handshakes, %d resumed; want 2, %d, %d",
					hs.Connections, hs.TLSFullHandshakes, hs.TLSResumed, tt.wantFull, tt.wantResume)
			}
			if ha := hostStats(t, f, a.Host); ha.Connections != 1 || ha.TLSFullHandshakes != 1 {
				t.Fatalf("host a: %+v; want its one kept connection", ha)
			}
		})
	}
}

func TestARunKeepsItsConnectionFromTheFirstRequestToTheLastPastTheIdleLimit(t *testing.T) {
	f, c, tg := httpsPair(t, "win11")
	a, b := tg[0], tg[1]
	mustRun(t, c, a) // fills the idle limit (1)
	mustRun(t, c, b) // cold: Create, Command, Send, Receive
	mustRun(t, c, b) // warm: Send, Receive
	hs := hostStats(t, f, b.Host)
	// Each run on b is one connection, though none of b's may stay idle
	// after it: without the pin, every request after the first would
	// connect again (6 connections).
	if hs.Requests != 6 || hs.Connections != 2 {
		t.Fatalf("host b: %d requests over %d connections; want 6 over 2", hs.Requests, hs.Connections)
	}
}

func TestConnectionsThatWouldExpireBeforeTheNextPollAreNotKept(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 7, Profile: "win11", TLS: &winrmsim.TLSOptions{}})
	c := newClient(t, winrm.Options{})
	if err := c.SetTransportOptions(winrm.TransportOptions{CABundle: writePEM(t, f.CA().CertPEM())}); err != nil {
		t.Fatal(err)
	}
	tg := targetOf(f.Hosts()[0])
	mustRun(t, c, tg)
	if st := c.Stats(); st.ConnsIdle != 1 {
		t.Fatalf("polled every so often (unknown): %d idle connections, want the run's kept", st.ConnsIdle)
	}
	// Polled every 3 minutes: a connection idle for 110 s is closed
	// anyway, so it is not kept after the run.
	c.Revisit(3 * time.Minute)
	mustRun(t, c, tg)
	if st := c.Stats(); st.ConnsIdle != 0 {
		t.Fatalf("polled every 3 minutes: %d idle connections, want none", st.ConnsIdle)
	}
	mustRun(t, c, tg)
	hs := hostStats(t, f, tg.Host)
	if hs.Connections != 2 || hs.TLSResumed != 1 {
		t.Fatalf("host: %d connections, %d resumed; want the third run on a new, resumed connection", hs.Connections, hs.TLSResumed)
	}
}
