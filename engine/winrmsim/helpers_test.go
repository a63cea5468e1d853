package winrmsim

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/masterzen/winrm"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// startFleet builds and starts a fleet that the test closes when it ends.
// startFleet starts a fleet whose HTTP hosts allow Basic over plain HTTP
// (as an admin sets AllowUnencrypted for them), unless the test asks for
// Windows' default with startStrictFleet.
func startFleet(t *testing.T, cfg Config) *Fleet {
	t.Helper()
	if cfg.TLS == nil {
		cfg.AllowUnencrypted = true
	}
	return startStrictFleet(t, cfg)
}

// startStrictFleet starts a fleet as configured: with Windows' default,
// Basic over plain HTTP is refused.
func startStrictFleet(t *testing.T, cfg Config) *Fleet {
	t.Helper()
	f, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return f
}

// newClient is the real WinRM client pointed at one host.
func newClient(t *testing.T, hi HostInfo, user, password string, params *winrm.Parameters) *winrm.Client {
	t.Helper()
	if params == nil {
		params = winrm.DefaultParameters
	}
	ep := winrm.NewEndpoint(hi.IP, hi.Port, false, false, nil, nil, nil, 10*time.Second)
	c, err := winrm.NewClientWithParameters(ep, user, password, params)
	if err != nil {
		t.Fatalf("winrm client for %s: %v", hi.Hostname, err)
	}
	return c
}

// rawClient posts hand-made or masterzen-built envelopes and returns the
// raw replies, for what the high-level client hides (shell ids, faults).
type rawClient struct {
	url      string
	user     string
	password string
	http     *http.Client
	params   *winrm.Parameters
}

func newRawClient(t testing.TB, hi HostInfo) *rawClient {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &rawClient{
		url:      "http://" + hi.IP + ":" + strconv.Itoa(hi.Port) + "/wsman",
		user:     DefaultUser,
		password: DefaultPassword,
		http:     &http.Client{Transport: tr, Timeout: 30 * time.Second},
		params:   winrm.DefaultParameters,
	}
}

// post sends one envelope and returns the status and body.
func (c *rawClient) post(t testing.TB, body string) (int, string) {
	t.Helper()
	status, reply, err := c.tryPost(body, nil)
	if err != nil {
		t.Fatalf("POST %s: %v", c.url, err)
	}
	return status, reply
}

// tryPost sends one envelope with optional extra headers.
func (c *rawClient) tryPost(body string, header http.Header) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, c.url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// createShell opens a shell and returns its ShellId.
func (c *rawClient) createShell(t testing.TB) string {
	t.Helper()
	status, body := c.post(t, winrm.NewOpenShellRequest(c.url, c.params).String())
	if status != http.StatusOK {
		t.Fatalf("Create: HTTP %d: %s", status, body)
	}
	id, err := winrm.ParseOpenShellResponse(body)
	if id == "" {
		// A WinRM 2.0 reply names the shell only in its selector, which
		// masterzen/winrm's parser does not read.
		if m := shellSelectorRe.FindStringSubmatch(body); m != nil {
			id, err = m[1], nil
		}
	}
	if err != nil || id == "" {
		t.Fatalf("Create: no ShellId (%v): %s", err, body)
	}
	return id
}

var shellSelectorRe = regexp.MustCompile(`<w:Selector Name="ShellId">([^<]+)</w:Selector>`)

// command starts a command line in a shell and returns its CommandId.
func (c *rawClient) command(t *testing.T, shellID, line string) string {
	t.Helper()
	status, body := c.post(t, winrm.NewExecuteCommandRequest(c.url, shellID, line, nil, c.params).String())
	if status != http.StatusOK {
		t.Fatalf("Command %q: HTTP %d: %s", line, status, body)
	}
	id, err := winrm.ParseExecuteCommandResponse(body)
	if err != nil || id == "" {
		t.Fatalf("Command %q: no CommandId (%v): %s", line, err, body)
	}
	return id
}

// receive asks for output with the given w:OperationTimeout.
func (c *rawClient) receive(t *testing.T, shellID, commandID, timeout string) (int, string) {
	t.Helper()
	return c.post(t, receiveRequest(c, shellID, commandID, timeout))
}

var (
	faultCodeRe = regexp.MustCompile(`<f:WSManFault [^>]*Code="(\d+)"`)
	messageIDRe = regexp.MustCompile(`<a:MessageID>uuid:[0-9A-F-]{36}</a:MessageID>`)
	relatesToRe = regexp.MustCompile(`<a:RelatesTo>[^<]*</a:RelatesTo>`)
	exitCodeRe  = regexp.MustCompile(`<rsp:ExitCode>(-?\d+)</rsp:ExitCode>`)
)

// faultCode returns the WSManFault Code of a reply, "" if it is no fault.
func faultCode(body string) string {
	m := faultCodeRe.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// clientFaultCode digs the WSManFault code out of an error from
// masterzen/winrm. It hands a fault reply back as an ExecuteCommandError
// whose Body is the envelope (it does not treat HTTP 500 as an error).
func clientFaultCode(err error) string {
	var ece *winrm.ExecuteCommandError
	if !errors.As(err, &ece) {
		return ""
	}
	return faultCode(ece.Body)
}

// normalize replaces what changes from run to run (our MessageID and the
// client's, echoed in RelatesTo) so a reply can be compared with a golden
// file.
func normalize(body string) string {
	body = messageIDRe.ReplaceAllString(body, "<a:MessageID>uuid:MESSAGE-ID</a:MessageID>")
	return relatesToRe.ReplaceAllString(body, "<a:RelatesTo>uuid:REQUEST-ID</a:RelatesTo>")
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (run with -update if the change is intended)\n got: %s\nwant: %s", path, got, want)
	}
}

// fixture reads a file under testdata/.
func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// receiveRequest builds a Receive envelope with the given w:OperationTimeout.
func receiveRequest(c *rawClient, shellID, commandID, timeout string) string {
	params := *c.params
	params.Timeout = timeout
	return winrm.NewGetOutputRequest(c.url, shellID, commandID, "stdout stderr", &params).String()
}
