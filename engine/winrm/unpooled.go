package winrm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	mz "github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"
)

// unpooled.go: one script as a new shell and a new powershell.exe (the
// benchmark's baseline, doctor's probes). masterzen's RunWithContext is
// not used: it runs the command line through cmd.exe (8,191 characters at
// most), with a console as stdin, and gives up on the Receive timeout
// fault unless the transport's error text names it. Here the steps are
// rmm's own, over masterzen's request builders and the client's own
// endpoint (every auth method, sealed over HTTP as in the pool): Create,
// Command (the fixed cold bootstrap, no cmd.exe, stdin a pipe), Send (the
// script, ended with End="true"), Receive until Done (the w:TimedOut fault
// only means no output yet), Signal when it did not finish, Delete.

// unpooledCleanup bounds the Signal and Delete after a run, whatever the
// caller's context.
const unpooledCleanup = 5 * time.Second

// runUnpooled runs a script on a new shell through the target's
// masterzen transport. Errors are classed *Error values naming the target
// and the step.
func (c *Client) runUnpooled(ctx context.Context, t Target, dt deviceTransport, cred Credential, s *Script) (Result, error) {
	fail := func(step string, err error) (Result, error) {
		return Result{Mode: ModeCold}, &Error{Class: ClassOf(err), Device: t.Host, Step: step + " " + s.name, Err: err}
	}
	if c.closed.Load() {
		return fail("run", ErrClosed)
	}
	u, err := c.unpooledSteps(ctx, t, dt, cred)
	if err != nil {
		return Result{Mode: ModeCold}, err
	}
	ref := ShellRef{Ref: t.Ref, Host: t.Host, Endpoint: t.url}
	shellID, _, err := createRecorded(ctx, c.opts.OnShellCreate, ref, func() (string, string, error) {
		id, err := u.createShell()
		return id, "", err
	})
	if err != nil {
		return fail("create shell for", err)
	}
	ref.ShellID = shellID
	var cmdID string
	done := false
	defer func() {
		// Cleanup reaches the host even when ctx is over (post gives
		// Signal and Delete their own deadline).
		if cmdID != "" && !done {
			_, _ = u.post(mz.NewSignalRequest(u.url, shellID, cmdID, u.params))
		}
		// A shell not deleted stays recorded for the engine's next start.
		if _, err := u.post(mz.NewDeleteShellRequest(u.url, shellID, u.params)); (err == nil || isShellLost(err)) && c.opts.OnShellClosed != nil {
			c.opts.OnShellClosed(ref)
		}
	}()
	if err := checkCommandLine(s.name, ColdCommandLine()); err != nil {
		return fail("run", err)
	}
	body, err := u.post(commandMessage(u.url, shellID, u.params, ColdCommandLine()))
	if err != nil {
		return fail("run", err)
	}
	if cmdID = scanElementText(body, "CommandId"); cmdID == "" {
		return fail("run", fmt.Errorf("%w: no CommandId in the Command reply", errMalformed))
	}
	if err := u.send(ctx, shellID, cmdID, []byte(s.text)); err != nil {
		return fail("send", err)
	}
	var stdout, stderr []byte
	for {
		if err := ctx.Err(); err != nil {
			return fail("receive", err)
		}
		body, err := u.post(mz.NewGetOutputRequest(u.url, shellID, cmdID, "stdout stderr", u.params))
		if err != nil {
			var he *HTTPError
			if errors.As(err, &he) && he.Fault != nil && he.Fault.Code == FaultTimedOut {
				continue // no output within the OperationTimeout: ask again
			}
			return fail("receive", err)
		}
		res, err := decodeReceive(body, &stdout, &stderr)
		if err != nil {
			return fail("receive", err)
		}
		if len(stdout) > maxStdout {
			return fail("receive", errOutputTooLarge)
		}
		stderr = keepTail(stderr)
		if res.done {
			done = true
			return coldResult(stdout, stderr, res.exitCode), nil
		}
	}
}

// unpooledSteps prepares the WS-Management steps of one run over an
// endpoint of its own.
func (c *Client) unpooledSteps(ctx context.Context, t Target, dt deviceTransport, cred Credential) (*unpooledRun, error) {
	var bufs *sync.Pool
	if c.pool != nil {
		bufs = &c.pool.bufs
	}
	ep := c.endpointFor(t, dt, cred, bufs)
	return &unpooledRun{url: t.url, params: ep.params, post: func(msg *soap.SoapMessage) ([]byte, error) {
		body := msg.String()
		pctx := ctx
		// Cleanup (Signal, Delete) must reach the host even when the
		// caller's context is already cancelled, or the host keeps the
		// shell.
		if strings.Contains(body, "/shell/Signal<") || strings.Contains(body, "/transfer/Delete<") {
			var cancel context.CancelFunc
			pctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), unpooledCleanup)
			defer cancel()
		}
		p, err := ep.post(pctx, []byte(body))
		if err != nil {
			return nil, err
		}
		out := slices.Clone(*p)
		ep.release(p)
		return out, nil
	}}, nil
}

// unpooledRun is one run's WS-Management steps over a masterzen
// transport.
type unpooledRun struct {
	url    string
	params *mz.Parameters
	post   func(*soap.SoapMessage) ([]byte, error)
}

// createShell opens a shell and returns its id.
func (u *unpooledRun) createShell() (string, error) {
	body, err := u.post(mz.NewOpenShellRequest(u.url, u.params))
	if err != nil {
		return "", err
	}
	id := shellIDOf(body)
	if id == "" {
		return "", fmt.Errorf("%w: no ShellId in the Create reply", errMalformed)
	}
	return id, nil
}

// send writes the script to the command's stdin in chunks that fit the
// envelope, the last with End="true".
func (u *unpooledRun) send(ctx context.Context, shellID, cmdID string, data []byte) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := data[:min(len(data), maxSendChunk)]
		data = data[len(chunk):]
		if _, err := u.post(mz.NewSendInputRequest(u.url, shellID, cmdID, chunk, len(data) == 0, u.params)); err != nil {
			return err
		}
		if len(data) == 0 {
			return nil
		}
	}
}
