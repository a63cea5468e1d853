package winrmsim

import (
	"encoding/xml"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseFaultsReadsSharesOfKinds(t *testing.T) {
	got, err := ParseFaults("refuse=2%, hang=1%,http500=0.01 ,malformed=1%")
	if err != nil {
		t.Fatal(err)
	}
	want := map[FaultKind]float64{FaultRefuse: 0.02, FaultHang: 0.01, FaultHTTP500: 0.01, FaultMalformed: 0.01}
	for k, v := range want {
		if d := got[k] - v; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for _, bad := range []string{"refuse", "slow=1%", "hang=x", "hang=-1%", "refuse=60%,hang=50%"} {
		if _, err := ParseFaults(bad); err == nil {
			t.Errorf("ParseFaults(%q) accepted", bad)
		}
	}
	if _, err := New(Config{Devices: 1, Faults: "nope=1%"}); err == nil {
		t.Error("New accepted an unknown fault kind")
	}
}

func TestConfigFaultsGiveEachKindItsShareBySeed(t *testing.T) {
	cfg := Config{Devices: 200, Seed: 7, Faults: "refuse=5%,hang=2%,http500=2%,malformed=1%"}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New(cfg)
	count := map[FaultKind]int{}
	for i, h := range a.Hosts() {
		count[h.Fault]++
		if b.Hosts()[i].Fault != h.Fault {
			t.Fatalf("%s: fault %q, and %q with the same seed", h.Hostname, h.Fault, b.Hosts()[i].Fault)
		}
	}
	if count[FaultRefuse] != 10 || count[FaultHang] != 4 || count[FaultHTTP500] != 4 || count[FaultMalformed] != 2 || count[FaultNone] != 180 {
		t.Fatalf("faults by kind %v", count)
	}
}

func TestNetworkFaultsMisbehaveOnTheWire(t *testing.T) {
	f := startFleet(t, Config{Devices: 4, Seed: 1})
	hosts := f.Hosts()
	identify := fixture(t, "identify.xml")

	t.Run("refuse closes the port until cleared", func(t *testing.T) {
		h := hosts[0]
		if err := f.SetFault(h.Hostname, FaultRefuse); err != nil {
			t.Fatal(err)
		}
		if err := dial(h); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial a refusing host: %v, want connection refused", err)
		}
		if hi, _ := f.Host(h.Hostname); hi.Fault != FaultRefuse || !hi.Online {
			t.Errorf("HostInfo = %+v, want online with the refuse fault", hi)
		}
		if err := f.SetFault(h.Hostname, FaultNone); err != nil {
			t.Fatal(err)
		}
		if status, _, err := newRawClient(t, h).tryPost(identify, nil); err != nil || status != 200 {
			t.Fatalf("after clearing the fault: HTTP %d, %v", status, err)
		}
	})
	t.Run("http500 answers 500 without a WS-Man fault", func(t *testing.T) {
		h := hosts[1]
		if err := f.SetFault(h.Hostname, FaultHTTP500); err != nil {
			t.Fatal(err)
		}
		status, body, err := newRawClient(t, h).tryPost(identify, nil)
		if err != nil || status != 500 || body != "" {
			t.Fatalf("HTTP %d %q %v, want 500 and no body", status, body, err)
		}
	})
	t.Run("malformed answers 200 with XML that does not parse", func(t *testing.T) {
		h := hosts[2]
		if err := f.SetFault(h.Hostname, FaultMalformed); err != nil {
			t.Fatal(err)
		}
		status, body, err := newRawClient(t, h).tryPost(identify, nil)
		if err != nil || status != 200 {
			t.Fatalf("HTTP %d %v", status, err)
		}
		var v struct{}
		if err := xml.Unmarshal([]byte(body), &v); err == nil {
			t.Fatalf("the malformed body parsed: %s", body)
		}
	})
	t.Run("hang takes the request and never answers", func(t *testing.T) {
		h := hosts[3]
		if err := f.SetFault(h.Hostname, FaultHang); err != nil {
			t.Fatal(err)
		}
		before := settledGoroutines(0)
		c := newRawClient(t, h)
		c.http.Timeout = 300 * time.Millisecond
		_, _, err := c.tryPost(identify, nil)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("a hung host: err = %v, want a client timeout", err)
		}
		// The client gave up and closed the connection: the handler
		// notices and ends.
		if after := settledGoroutines(before); after > before {
			t.Errorf("%d goroutines after the client left, %d before", after, before)
		}
		if hs, _ := f.HostStats(h.Hostname); hs.Injected < 1 {
			t.Errorf("Injected = %d, want at least 1", hs.Injected)
		}
	})
	if err := f.SetFault("NOPE", FaultHang); err == nil {
		t.Error("SetFault on an unknown host succeeded")
	}
	if err := f.SetFault(hosts[0].Hostname, FaultKind("slow")); err == nil {
		t.Error("SetFault with an unknown kind succeeded")
	}
}

func TestTheHTTPServerSpeaksEnoughHTTP11(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1})
	h := f.Hosts()[0]
	c := newRawClient(t, h)
	identify := fixture(t, "identify.xml")

	t.Run("a chunked body is read", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, c.url, struct{ *strings.Reader }{strings.NewReader(identify)})
		req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
		req.SetBasicAuth(DefaultUser, DefaultPassword)
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || req.ContentLength != 0 {
			t.Fatalf("HTTP %d, content length %d (want it unknown, so the body goes chunked)", resp.StatusCode, req.ContentLength)
		}
	})
	t.Run("Expect 100-continue is honoured", func(t *testing.T) {
		if status, _, err := c.tryPost(identify, http.Header{"Expect": {"100-continue"}}); err != nil || status != 200 {
			t.Fatalf("HTTP %d %v", status, err)
		}
	})
	t.Run("other methods and paths are refused like HTTP.sys", func(t *testing.T) {
		resp, err := c.http.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" || resp.Header.Get("Server") != "Microsoft-HTTPAPI/2.0" {
			t.Errorf("GET: HTTP %d, Allow %q, Server %q", resp.StatusCode, resp.Header.Get("Allow"), resp.Header.Get("Server"))
		}
		other := *c
		other.url = strings.TrimSuffix(c.url, "/wsman") + "/other"
		if status, _, _ := other.tryPost(identify, nil); status != 404 {
			t.Errorf("POST /other: HTTP %d, want 404", status)
		}
		if status, _, _ := c.tryPost(identify, http.Header{"Content-Type": {"text/plain"}}); status != 415 {
			t.Errorf("text/plain: HTTP %d, want 415", status)
		}
	})
	t.Run("an envelope over the limit is a fault", func(t *testing.T) {
		big := strings.Replace(identify, "<s:Body>", "<s:Body><!--"+strings.Repeat("x", maxRequestBytes)+"-->", 1)
		status, body, err := c.tryPost(big, nil)
		if err != nil || status != 500 || faultCode(body) != "2150859025" {
			t.Fatalf("HTTP %d code %q %v, want 500 and the MaxEnvelopeSize fault (0x80338111)", status, faultCode(body), err)
		}
	})
	t.Run("a request that is not HTTP gets 400 and a closed connection", func(t *testing.T) {
		conn, err := net.Dial("tcp", net.JoinHostPort(h.IP, strconv.Itoa(h.Port)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, _ = conn.Write([]byte("HELLO THERE\r\n\r\n"))
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 512)
		n, _ := conn.Read(buf)
		if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 400 ") {
			t.Fatalf("reply %q", buf[:n])
		}
	})
}
