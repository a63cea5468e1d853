package winrmsim

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"sync"
	"testing"
)

// firstSession is a client session cache that keeps the first session a
// host gave and offers it on every later connection (a client replaying
// one ticket).
type firstSession struct {
	mu sync.Mutex
	cs *tls.ClientSessionState
}

func (c *firstSession) Get(string) (*tls.ClientSessionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cs, c.cs != nil
}

func (c *firstSession) Put(_ string, cs *tls.ClientSessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cs == nil && cs != nil {
		c.cs = cs
	}
}

// tlsDial connects to the host, completes the handshake and reads until
// the host's session ticket (TLS 1.3 sends it after the handshake) has
// been taken in, then closes.
func tlsDial(t *testing.T, f *Fleet, h HostInfo, cache tls.ClientSessionCache) tls.ConnectionState {
	t.Helper()
	cfg := &tls.Config{RootCAs: f.CA().Pool(), ServerName: h.Hostname, ClientSessionCache: cache}
	c, err := tls.Dial("tcp", net.JoinHostPort(h.IP, strconv.Itoa(h.Port)), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// One request and its answer: the ticket arrives before it.
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	_, _ = c.Read(buf)
	return c.ConnectionState()
}

func TestHTTPSHostsResumeOnlyAsTheirWindowsReleaseDoes(t *testing.T) {
	tests := []struct {
		profile     string
		wantVersion uint16
		wantResumed bool
	}{
		{"win11", tls.VersionTLS13, true},
		{"server2025", tls.VersionTLS13, true},
		{"win10", tls.VersionTLS12, false},      // TLS 1.3 is not on by default before build 20348
		{"server2016", tls.VersionTLS12, false}, // nor on Server 2016
		{"server2019", tls.VersionTLS12, false}, // or 2019; and WinRM's TLS 1.2 binding issues no ticket
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			f, err := New(Config{Devices: 1, Seed: 3, Profile: tt.profile, TLS: &TLSOptions{}})
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			h := f.Hosts()[0]
			cache := tls.NewLRUClientSessionCache(4)
			first := tlsDial(t, f, h, cache)
			second := tlsDial(t, f, h, cache)
			if first.Version != tt.wantVersion || first.DidResume {
				t.Fatalf("first connection: version %x resumed %v; want %x, a full handshake", first.Version, first.DidResume, tt.wantVersion)
			}
			// SChannel's groups: a client offering the ML-KEM hybrid first
			// (Go's default) gets X25519.
			if first.Version == tls.VersionTLS13 && first.CurveID != tls.X25519 {
				t.Fatalf("negotiated %v, want X25519 (SChannel negotiates no ML-KEM hybrid)", first.CurveID)
			}
			if second.DidResume != tt.wantResumed {
				t.Fatalf("second connection resumed %v, want %v", second.DidResume, tt.wantResumed)
			}
			hs, _ := f.HostStats(h.Hostname)
			wantResumed := int64(0)
			if tt.wantResumed {
				wantResumed = 1
			}
			if hs.TLSFullHandshakes != 2-wantResumed || hs.TLSResumed != wantResumed {
				t.Fatalf("host counted %d full and %d resumed handshakes, want %d and %d", hs.TLSFullHandshakes, hs.TLSResumed, 2-wantResumed, wantResumed)
			}
		})
	}
}

func TestATLSSessionResumesOnceAndAReplayedTicketGetsAFullHandshake(t *testing.T) {
	f, err := New(Config{Devices: 1, Seed: 3, Profile: "win11", TLS: &TLSOptions{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := f.Hosts()[0]
	cache := &firstSession{}
	if tlsDial(t, f, h, cache).DidResume {
		t.Fatal("the first connection resumed")
	}
	if !tlsDial(t, f, h, cache).DidResume {
		t.Fatal("the first ticket did not resume")
	}
	if tlsDial(t, f, h, cache).DidResume {
		t.Fatal("the same ticket resumed twice; SChannel-like caches take a session once")
	}
}

func TestATLSSessionCacheKeepsAtMostItsBoundPerHost(t *testing.T) {
	s := &tlsSessions{byID: make(map[string]tlsSession)}
	var ids [][]byte
	for range tlsSessionsPerHost + 3 {
		id, err := s.wrap(tls.ConnectionState{}, &tls.SessionState{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if len(s.byID) != tlsSessionsPerHost {
		t.Fatalf("%d sessions kept, want %d", len(s.byID), tlsSessionsPerHost)
	}
	if ss, _ := s.unwrap(ids[0], tls.ConnectionState{}); ss != nil {
		t.Fatal("the oldest session, dropped over the bound, still resumed")
	}
}
