package winrm_test

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/engine/winrmsim"
)

// Tests of the transport policy and of the error classes, each from what a
// simulated host really did.

func TestBasicOverPlainHTTPWithoutAllowUnencryptedIsRefusedBeforeAnyRequest(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 51})
	h := f.Hosts()[0]
	c := newClient(t, winrm.Options{})
	tg := targetOf(h)
	tg.AllowUnencrypted = false
	if c.Pooled(tg) != true {
		t.Errorf("Pooled(%+v) is false: the policy is not Pooled's to decide", tg)
	}
	cred := simCred
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"CheckPolicy", func(context.Context) error { return c.CheckPolicy(tg) }},
		{"Run", func(ctx context.Context) error { _, err := c.Run(ctx, tg, simCred, hostnameScript); return err }},
		{"RunUnpooled", func(ctx context.Context) error {
			_, err := c.RunUnpooled(ctx, tg, simCred, hostnameScript)
			return err
		}},
		{"OpenSession", func(ctx context.Context) error { _, err := c.OpenSession(ctx, tg, simCred); return err }},
		{"TryShell", func(ctx context.Context) error { return c.TryShell(ctx, tg, simCred) }},
		{"an authenticated Identify", func(ctx context.Context) error { _, err := c.Identify(ctx, tg, &cred); return err }},
	}
	for _, tt := range calls {
		t.Run(tt.name+" is a configuration error", func(t *testing.T) {
			err := tt.call(testContext(t))
			var ce *winrm.Error
			if !errors.As(err, &ce) || ce.Class != winrm.ClassConfiguration || ce.Device != h.Hostname || ce.Step != "transport" ||
				!strings.Contains(err.Error(), "AllowUnencrypted") {
				t.Fatalf("%v (%#v); want a configuration error of %s at step transport that says how to allow it", err, err, h.Hostname)
			}
		})
	}
	if hs := hostStats(t, f, h.Hostname); hs.Requests != 0 || hs.Connections != 0 {
		t.Errorf("the host saw %d requests on %d connections; the password must not leave the console", hs.Requests, hs.Connections)
	}
}

func TestEachErrorClassFromARealSimulatorFault(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 6, Seed: 53, MaxShellsPerUser: 1})
	hosts := f.Hosts()
	for i, k := range []winrmsim.FaultKind{winrmsim.FaultRefuse, winrmsim.FaultHTTP500, winrmsim.FaultHang, winrmsim.FaultMalformed} {
		if err := f.SetFault(hosts[i].Hostname, k); err != nil {
			t.Fatal(err)
		}
	}
	// Another tool holds the only shell the host allows.
	quota := hosts[5]
	other := newClient(t, winrm.Options{})
	held, err := other.OpenSession(testContext(t), targetOf(quota), simCred)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	c := newClient(t, winrm.Options{})
	badPassword := winrm.Credential{User: winrmsim.DefaultUser, Password: "wrong"}
	tests := []struct {
		name     string
		host     winrmsim.HostInfo
		cred     winrm.Credential
		timeout  time.Duration
		class    winrm.Class
		is       func(error) bool
		requests int64 // seen by the host
	}{
		{"a refused connection is a device error", hosts[0], simCred, 0, winrm.ClassDevice,
			func(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }, 0},
		{"HTTP 500 without a fault is transient", hosts[1], simCred, 0, winrm.ClassTransient,
			func(err error) bool { he := httpError(err); return he != nil && he.Status == 500 && he.Fault == nil }, 1},
		{"a host that never answers runs into the deadline, which is transient", hosts[2], simCred, 300 * time.Millisecond, winrm.ClassTransient,
			func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }, 1},
		{"a malformed answer is a device error", hosts[3], simCred, 0, winrm.ClassDevice,
			func(err error) bool { return strings.Contains(err.Error(), "malformed") }, 1},
		{"a bad password (401) is a configuration error", hosts[4], badPassword, 0, winrm.ClassConfiguration,
			func(err error) bool { he := httpError(err); return he != nil && he.Status == 401 }, 1},
		{"the shell quota is a device error", quota, simCred, 0, winrm.ClassDevice,
			func(err error) bool {
				he := httpError(err)
				return he != nil && he.Fault != nil && he.Fault.Code == winrm.FaultShellQuota
			}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			before := hostStats(t, f, tt.host.Hostname).Requests
			_, err := c.Run(ctx, targetOf(tt.host), tt.cred, hostnameScript)
			var ce *winrm.Error
			if !errors.As(err, &ce) {
				t.Fatalf("%v (%T) is not a *winrm.Error", err, err)
			}
			if ce.Class != tt.class || winrm.ClassOf(err) != tt.class || ce.Device != tt.host.Hostname || ce.Step != "create shell" || !tt.is(err) {
				t.Errorf("%v: class %s, device %q, step %q; want %s of %s at step create shell", err, ce.Class, ce.Device, ce.Step, tt.class, tt.host.Hostname)
			}
			if want := "poll " + tt.host.Hostname + ": create shell: "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with %q", err, want)
			}
			if got := hostStats(t, f, tt.host.Hostname).Requests - before; got != tt.requests {
				t.Errorf("the host saw %d requests, want %d", got, tt.requests)
			}
		})
	}
	if st := c.Stats(); st.Open != 0 || st.Created != 0 || st.QuotaHits != 1 {
		t.Errorf("client stats %+v; want no shell, one quota hit", st)
	}
}

// httpError is the *winrm.HTTPError in err's chain, or nil.
func httpError(err error) *winrm.HTTPError {
	var he *winrm.HTTPError
	if errors.As(err, &he) {
		return he
	}
	return nil
}
