package engine

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/masterzen/winrm"

	"github.com/rmmhq/rmm/store"
)

// pollOutcome is what one poll of one device found.
type pollOutcome struct {
	status  Status
	metrics HostMetrics
	err     error // classed *Error when the poll failed
	at      time.Time
}

// address returns where the device is reached: its IP when known, else
// its FQDN, else its hostname.
func address(d store.Device) string {
	switch {
	case d.IP != "":
		return d.IP
	case d.FQDN != "":
		return d.FQDN
	}
	return d.Hostname
}

func endpointURL(d store.Device) string {
	scheme := "https"
	if d.Transport == "http" {
		scheme = "http"
	}
	port := d.Port
	if port == 0 {
		port = 5986
		if scheme == "http" {
			port = 5985
		}
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(address(d), strconv.Itoa(port)), Path: "/wsman"}
	return u.String()
}

// pollDevice runs the metrics script on d, retrying transient failures
// with backoff, and decides the device's status from the outcome.
func (e *Engine) pollDevice(ctx context.Context, o Options, d store.Device) pollOutcome {
	log := e.log.With("device", d.Hostname)
	var err error
	for attempt := 0; ; attempt++ {
		var m HostMetrics
		m, err = e.runMetrics(ctx, o, d)
		if err == nil {
			log.Debug("poll ok", "cpu_pct", m.CPUPct, "mem_pct", m.MemPct, "attempts", attempt+1)
			return pollOutcome{status: StatusOnline, metrics: m, at: time.Now().UTC()}
		}
		if ctx.Err() != nil || ClassOf(err) != ClassTransient || attempt >= o.Retries {
			break
		}
		wait := Backoff(attempt, 250*time.Millisecond, 5*time.Second)
		log.Debug("poll retry", "attempt", attempt+1, "wait", wait, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	out := pollOutcome{err: err, at: time.Now().UTC()}
	switch ClassOf(err) {
	case ClassConfiguration:
		// The host answered, but rmm is set up wrong for it: its status is
		// not known, and an admin must act. No retry storm.
		out.status = StatusUnknown
		log.Warn("poll failed: configuration", "class", "configuration", "err", err)
	default:
		// Refused, unreachable, timed out after retries, or a host-side
		// fault: the device cannot be managed right now.
		out.status = StatusOffline
		log.Info("poll failed", "class", ClassOf(err).String(), "err", err)
	}
	return out
}

// runMetrics runs the metrics script once, within the WinRM timeout.
func (e *Engine) runMetrics(ctx context.Context, o Options, d store.Device) (HostMetrics, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	stdout, stderr, code, err := e.run(ctx, o, d, e.metricsCmd)
	if err != nil {
		return HostMetrics{}, &Error{Class: ClassOf(err), Device: d.Hostname, Step: "run metrics", Err: err}
	}
	streams, derr := DecodeStderr(stderr)
	if code != 0 {
		msg := streams.ErrorText()
		if derr != nil || msg == "" {
			msg = "no error text"
		}
		return HostMetrics{}, &Error{Class: ClassDevice, Device: d.Hostname, Step: "run metrics",
			Err: fmt.Errorf("exit code %d: %s", code, msg)}
	}
	m, err := ParseMetrics(stdout)
	if err != nil {
		return HostMetrics{}, &Error{Class: ClassDevice, Device: d.Hostname, Step: "parse metrics", Err: err}
	}
	return m, nil
}

// run executes one command in a new shell through masterzen/winrm (the
// shell is created and deleted around it) and returns its output.
func (e *Engine) run(ctx context.Context, o Options, d store.Device, command string) (stdout []byte, stderr string, code int, err error) {
	u := endpointURL(d)
	cred := o.Credential
	// The OperationTimeout a Receive may wait, kept below the HTTP
	// deadline so the host answers with a TimedOut fault first.
	opTimeout := max(o.Timeout-5*time.Second, o.Timeout/2)
	params := winrm.NewParameters(fmt.Sprintf("PT%.3fS", opTimeout.Seconds()), "en-US", 153600)
	params.TransportDecorator = func() winrm.Transporter {
		return &soapTransport{ctx: ctx, client: e.http, url: u, user: cred.User, password: cred.Password}
	}
	ep := &winrm.Endpoint{Host: address(d), Port: d.Port, HTTPS: d.Transport != "http", Timeout: o.Timeout}
	client, err := winrm.NewClientWithParameters(ep, cred.User, cred.Password, params)
	if err != nil {
		return nil, "", 0, fmt.Errorf("winrm client: %w", err)
	}
	var out, errb bytes.Buffer
	code, err = client.RunWithContext(ctx, command, &out, &errb)
	if err != nil {
		return nil, "", code, err
	}
	return out.Bytes(), errb.String(), code, nil
}
