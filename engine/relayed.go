package engine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// PollRecord is one recorded poll, as Options.OnPoll receives it: what a
// site relay (engine/relay) forwards to central.
type PollRecord struct {
	Hostname    string
	Site        string
	Status      Status
	At          time.Time
	LastError   string
	HasMetrics  bool
	CPUPct      float64
	MemPct      float64
	DiskFreePct float64
	Metrics     []store.Metric // every metric row of the poll (its own, health and extended metrics)
}

// AlertTypeRelayUnreachable is the one alert central raises for a site
// whose relay link has been down longer than the hub's grace; it
// concerns no device, its Instance is the site. The site's devices get
// no per-device offline alert for it: central evaluates no alert for a
// relayed device.
const AlertTypeRelayUnreachable = "relay_unreachable"

// Modes of a relayed device at central, shown in DeviceState.Mode.
const (
	ModeRelay      = "by site relay"
	ModeRelayStale = "by site relay, STALE: relay unreachable"
)

// Relays is what central's relay hub (engine/relay) tells the engine:
// which sites a relay polls, and how a request reaches those sites.
type Relays interface {
	// Relayed reports whether site's devices are polled by a site relay.
	Relayed(site string) bool
	// PollNow asks every relay to sweep its site now, on behalf of id
	// (authorised and audited by the engine before it is called).
	PollNow(ctx context.Context, id Identity) error
}

type relaysRef struct{ r Relays }

// AttachRelays makes the engine leave the devices of relayed sites to
// their relays: sweeps skip them, no WinRM request is sent to them, and
// PollNow is forwarded. Nil detaches.
func (e *Engine) AttachRelays(r Relays) {
	if r == nil {
		e.relays.Store(nil)
		return
	}
	e.relays.Store(&relaysRef{r: r})
}

func (e *Engine) relayed(site string) bool {
	ref := e.relays.Load()
	return ref != nil && ref.r.Relayed(site)
}

// relayedError refuses a WinRM request to a device of a relayed site:
// central never reaches a relayed site's devices itself.
func (e *Engine) relayedError(d store.Device) error {
	if !e.relayed(d.Site) {
		return nil
	}
	return &winrm.Error{Class: winrm.ClassConfiguration, Step: "route",
		Err: fmt.Errorf("device %s is on site %s, which a site relay polls: central does not reach it", d.Hostname, d.Site)}
}

func (e *Engine) forwardPollNow(ctx context.Context, id Identity) error {
	ref := e.relays.Load()
	if ref == nil {
		return nil
	}
	return ref.r.PollNow(ctx, id)
}

// ApplyRelayed updates the in-memory state of devices whose polls a relay
// made and central's store has just committed (ids are central's), and
// tells the front ends.
func (e *Engine) ApplyRelayed(ids []int64, recs []PollRecord) {
	if len(ids) != len(recs) {
		return
	}
	states := make([]DeviceState, 0, len(ids))
	e.mu.Lock()
	for i, id := range ids {
		en, ok := e.devices[id]
		if !ok || !strings.EqualFold(en.dev.Site, recs[i].Site) {
			continue
		}
		r := recs[i]
		prev := en.state.Status
		en.state.Status, en.state.LastError = r.Status, r.LastError
		if r.Status == StatusOnline {
			en.state.LastSeen = r.At
		}
		if r.HasMetrics {
			en.state.HasMetrics = true
			en.state.CPUPct, en.state.MemPct, en.state.DiskFreePct = r.CPUPct, r.MemPct, r.DiskFreePct
		}
		en.state.Mode = ModeRelay
		e.counts[prev]--
		e.counts[r.Status]++
		states = append(states, en.state)
	}
	sum := e.summaryLocked()
	e.mu.Unlock()
	for _, st := range states {
		e.status.Put(st.ID, st)
	}
	if len(states) > 0 {
		e.hub.Publish(states, sum)
	}
}

// relaysPtr is the engine's attached Relays (atomic: the hub attaches it
// while sweeps run).
type relaysPtr = atomic.Pointer[relaysRef]

// EnrollRelay registers a site relay: its leaf user and a new random
// password, whose bcrypt hash only is stored (central's hub checks it).
// The password is in the result, once: it goes into the relay's
// credentials file (engine/relay builds it) and never into the audit.
// Enrolling a site again replaces its password.
type EnrollRelay struct {
	Site     string
	LeafUser string // the NATS user the relay's leaf node logs in as
}

// RelayEnrollment is what EnrollRelay returns.
type RelayEnrollment struct {
	Site     string
	LeafUser string
	Password string // a secret: only for the credentials file
}

// Action implements Request.
func (EnrollRelay) Action() string { return "relay.enroll" }

// Permission implements Request: it issues a credential.
func (EnrollRelay) Permission() Permission { return PermCredsEdit }

// Mutating implements Request.
func (EnrollRelay) Mutating() bool { return true }

// Targets implements Request.
func (r EnrollRelay) Targets() []string { return []string{"site " + r.Site} }

// Details implements Request (never the password).
func (r EnrollRelay) Details() map[string]any { return map[string]any{"leaf_user": r.LeafUser} }

func (r EnrollRelay) run(ctx context.Context, e *Engine, _ Identity) (RelayEnrollment, error) {
	site := strings.TrimSpace(r.Site)
	if site == "" || r.LeafUser == "" {
		return RelayEnrollment{}, fmt.Errorf("enroll relay: %w: site and leaf user are required", ErrBadInput)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return RelayEnrollment{}, fmt.Errorf("enroll relay %s: %w", site, err)
	}
	pass := base64.RawURLEncoding.EncodeToString(raw)
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.DefaultCost)
	if err != nil {
		return RelayEnrollment{}, fmt.Errorf("enroll relay %s: %w", site, err)
	}
	if err := e.db.PutRelaySite(ctx, store.RelaySite{Site: site, LeafUser: r.LeafUser, PassHash: string(hash)}); err != nil {
		return RelayEnrollment{}, err
	}
	return RelayEnrollment{Site: site, LeafUser: r.LeafUser, Password: pass}, nil
}

// RevokeRelay stops accepting a site relay's credentials (from the hub's
// next start); the site's devices go back to being polled by central.
type RevokeRelay struct {
	Site string
}

// Action implements Request.
func (RevokeRelay) Action() string { return "relay.revoke" }

// Permission implements Request.
func (RevokeRelay) Permission() Permission { return PermCredsEdit }

// Mutating implements Request.
func (RevokeRelay) Mutating() bool { return true }

// Targets implements Request.
func (r RevokeRelay) Targets() []string { return []string{"site " + r.Site} }

// Details implements Request.
func (RevokeRelay) Details() map[string]any { return nil }

func (r RevokeRelay) run(ctx context.Context, e *Engine, _ Identity) (struct{}, error) {
	if strings.TrimSpace(r.Site) == "" {
		return struct{}{}, fmt.Errorf("revoke relay: %w: site is required", ErrBadInput)
	}
	return struct{}{}, e.db.RevokeRelaySite(ctx, r.Site)
}

// SetRelayLink records that site's relay link is down since since (up
// false), or back (up true). Down: the site's devices keep their last
// state, marked Stale (Mode ModeRelayStale), and one High alert "site S
// relay unreachable since T" is raised; up: the mark goes and the alert
// is resolved.
func (e *Engine) SetRelayLink(ctx context.Context, site string, up bool, since time.Time) error {
	var states []DeviceState
	e.mu.Lock()
	for _, en := range e.devices {
		if !strings.EqualFold(en.dev.Site, site) {
			continue
		}
		mode := ModeRelay
		if !up {
			mode = ModeRelayStale
		}
		if en.state.Mode != mode {
			en.state.Mode = mode
			states = append(states, en.state)
		}
	}
	sum := e.summaryLocked()
	e.mu.Unlock()
	if len(states) > 0 {
		e.hub.Publish(states, sum)
	}
	k := store.AlertKey{Type: AlertTypeRelayUnreachable, Instance: site}
	f := clearedFinding(k)
	if !up {
		f = finding{key: k, holds: true, raise: true, once: true, severity: SeverityHigh,
			message: fmt.Sprintf("site %s relay unreachable since %s; its devices show their last state (Stale)", site, since.UTC().Format(time.RFC3339))}
	}
	now := time.Now().UTC()
	b := e.alerts
	b.mu.Lock()
	steps := b.plan(store.Device{}, []finding{f}, now)
	b.mu.Unlock()
	return b.write(ctx, store.Device{Hostname: "site " + site}, steps, now)
}
