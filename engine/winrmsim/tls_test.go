package winrmsim_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/rmmhq/rmm/engine/winrmsim"
)

func startTLSFleet(t *testing.T, cfg winrmsim.Config) *winrmsim.Fleet {
	t.Helper()
	f, err := winrmsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// handshake dials a host with TLS, verifying against roots and name.
func handshake(h winrmsim.HostInfo, roots *x509.CertPool, name string) error {
	c, err := tls.Dial("tcp", net.JoinHostPort(h.IP, strconv.Itoa(h.Port)), &tls.Config{RootCAs: roots, ServerName: name})
	if err != nil {
		return err
	}
	return c.Close()
}

func TestHTTPSHostsPresentCertificatesFromTheCAWithTheKnobsTestsNeed(t *testing.T) {
	probe, err := winrmsim.New(winrmsim.Config{Devices: 4, Seed: 21})
	if err != nil {
		t.Fatal(err)
	}
	hs := probe.Hosts()
	ca, err := winrmsim.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	f := startTLSFleet(t, winrmsim.Config{Devices: 4, Seed: 21, TLS: &winrmsim.TLSOptions{CA: ca,
		Hosts: []string{hs[0].Hostname, hs[1].Hostname, hs[2].Hostname}, WrongName: []string{hs[1].Hostname}, Expired: []string{hs[2].Hostname}}})
	if f.CA() != ca {
		t.Fatal("the fleet does not use the CA it was given")
	}
	got := f.Hosts()
	for i, want := range []string{"https", "https", "https", "http"} {
		if got[i].Transport != want {
			t.Errorf("%s transport %s, want %s", got[i].Hostname, got[i].Transport, want)
		}
	}
	if err := handshake(got[0], ca.Pool(), got[0].Hostname); err != nil {
		t.Errorf("good certificate: %v", err)
	}
	var unknown x509.UnknownAuthorityError
	if err := handshake(got[0], x509.NewCertPool(), got[0].Hostname); !errors.As(err, &unknown) {
		t.Errorf("without the CA: %v, want an unknown authority", err)
	}
	var host x509.HostnameError
	if err := handshake(got[1], ca.Pool(), got[1].Hostname); !errors.As(err, &host) {
		t.Errorf("wrong-name certificate: %v, want a host name error", err)
	}
	var invalid x509.CertificateInvalidError
	if err := handshake(got[2], ca.Pool(), got[2].Hostname); !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
		t.Errorf("expired certificate: %v, want expired", err)
	}
	// The HTTP host still answers in plain HTTP.
	resp, err := http.Post("http://"+net.JoinHostPort(got[3].IP, strconv.Itoa(got[3].Port))+"/wsman", "application/soap+xml", strings.NewReader("x"))
	if err != nil {
		t.Fatalf("plain HTTP host: %v", err)
	}
	resp.Body.Close()

	var csv bytes.Buffer
	if err := f.WriteCSV(&csv); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(csv.String()), "\n")
	if !strings.HasSuffix(lines[0], ",AllowUnencrypted,FQDN,Auth") || !strings.Contains(lines[1], ",https,") || !strings.HasSuffix(lines[1], ",,,") ||
		!strings.HasSuffix(lines[4], ",true,,") {
		t.Errorf("CSV does not mark transports and unencrypted hosts:\n%s", csv.String())
	}
}

func TestHTTPSHostsSpeakWSManagementOverTLS(t *testing.T) {
	f := startTLSFleet(t, winrmsim.Config{Devices: 1, Seed: 22, TLS: &winrmsim.TLSOptions{}})
	h := f.Hosts()[0]
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.CA().Pool(), ServerName: h.Hostname}}}
	defer client.CloseIdleConnections()
	body := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>`
	for range 2 { // the second request reuses the kept-alive TLS connection
		req, _ := http.NewRequest(http.MethodPost, "https://"+net.JoinHostPort(h.IP, strconv.Itoa(h.Port))+"/wsman", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
		req.Header.Set("WSMANIDENTIFY", "unauthenticated")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(b.String(), "IdentifyResponse") {
			t.Fatalf("Identify over TLS: %d %s", resp.StatusCode, b.String())
		}
	}
}

func TestTLSOptionsNamingAnUnknownHostAreRefused(t *testing.T) {
	_, err := winrmsim.New(winrmsim.Config{Devices: 1, TLS: &winrmsim.TLSOptions{Expired: []string{"NOPE-1"}}})
	if err == nil || !strings.Contains(err.Error(), `unknown host "NOPE-1"`) {
		t.Fatalf("err %v", err)
	}
}
