package engine

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rmmhq/rmm/engine/filter"
	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/store"
)

// Patch policy: rings (which devices get updates first), approval rules
// (what is approved without a person), the deny list and deferral. An
// approval is per update and ring, as WSUS approves per computer group; a
// ring that follows another (production after pilot) installs an update
// only once enough of the earlier ring's installs of it succeeded and a
// soak time passed since the first did: its gate. An Admin can approve
// past a gate.

// PatchRing is one ring of patch.rings.
type PatchRing struct {
	Name string
	// Devices selects the ring's devices with the filter grammar of run
	// targets (site:, group:, tag:, os:, host:, free text); "" or "*":
	// every device no earlier ring took. A device is in the first ring
	// that selects it.
	Devices string
	// After is the ring whose results gate this one ("" for none).
	After string
	// SuccessRate is the share (percent) of After's installs of an update
	// that must have succeeded; default 95.
	SuccessRate float64
	// MinDevices is how many of After's devices must have tried an
	// update; default 1.
	MinDevices int
	// Soak is how long after After's first success an update waits.
	Soak time.Duration
	// ApproveRole is the least role that may approve or deny for this
	// ring; default Operator.
	ApproveRole Role

	sel filter.DeviceFilter // Devices, parsed (filter.ParseStatic); the zero filter: every device
}

// PatchRule is one automatic approval rule.
type PatchRule struct {
	Name            string
	Classifications []string // English names; none: any
	Severities      []string // MSRC severities; "none" for updates without one; none: any
	Rings           []string // none: every ring
	DeferralDays    *int     // nil: PatchOptions.DeferralDays
}

// Reboot policies of patch jobs.
const (
	RebootInWindow = "window" // a restart waits for the device's maintenance window
	RebootNow      = "now"    // a restart happens as soon as an install needs it
	RebootNever    = "never"  // the restart is left pending
)

// PatchOptions configure patch management; zero values take the
// defaults.
type PatchOptions struct {
	Rings            []PatchRing
	Rules            []PatchRule
	Deny             []string      // KBs never installed (patches.deny)
	DeferralDays     int           // rules approve an update this many days after its release (default 7; -1: 0)
	MaxRounds        int           // install rounds per job: install, restart, scan again (default 3)
	Reboot           string        // RebootInWindow (default) or RebootNever
	PollInterval     time.Duration // how often a running job's host is read (default 30s)
	StartTimeout     time.Duration // a task that has not started after this fails (default 5m)
	InstallTimeout   time.Duration // a task still running after this is stopped (default 4h)
	RebootTimeout    time.Duration // a host not back this long after a restart fails its job (default 30m)
	ServicingTimeout time.Duration // servicing still busy after this: scan anyway (default 30m)
	ScanTimeout      time.Duration // one Windows Update search (default 10m)
	QueueExpiry      time.Duration // a job for an offline device waits this long (default actions.queue_expiry)
	Dir              string        // where the installer goes on the host (default C:\ProgramData\rmm\patch)
}

// Defaults of PatchOptions.
const (
	DefaultPatchDeferralDays  = 7
	DefaultPatchMaxRounds     = 3
	DefaultPatchPollInterval  = 30 * time.Second
	DefaultPatchStartTimeout  = 5 * time.Minute
	DefaultPatchInstallLimit  = 4 * time.Hour
	DefaultPatchRebootTimeout = 30 * time.Minute
	DefaultPatchServicing     = 30 * time.Minute
	DefaultPatchScanTimeout   = 10 * time.Minute
	DefaultPatchDir           = `C:\ProgramData\rmm\patch`
	DefaultRingSuccessRate    = 95
	// AllRings is the ring of an approval for every ring.
	AllRings = "*"
)

// severities are the MSRC severities, and "none".
var severities = []string{"Critical", "Important", "Moderate", "Low", "none"}

// withDefaults fills defaults and checks the options; errors name the
// ring or rule.
func (o PatchOptions) withDefaults(queueExpiry time.Duration) (PatchOptions, error) {
	switch {
	case o.DeferralDays == 0:
		o.DeferralDays = DefaultPatchDeferralDays
	case o.DeferralDays < 0:
		o.DeferralDays = 0
	}
	if o.MaxRounds <= 0 {
		o.MaxRounds = DefaultPatchMaxRounds
	}
	if o.Reboot == "" {
		o.Reboot = RebootInWindow
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.PollInterval, DefaultPatchPollInterval)
	def(&o.StartTimeout, DefaultPatchStartTimeout)
	def(&o.InstallTimeout, DefaultPatchInstallLimit)
	def(&o.RebootTimeout, DefaultPatchRebootTimeout)
	def(&o.ServicingTimeout, DefaultPatchServicing)
	def(&o.ScanTimeout, DefaultPatchScanTimeout)
	def(&o.QueueExpiry, queueExpiry)
	if o.Dir == "" {
		o.Dir = DefaultPatchDir
	}
	o.Deny = slices.Clone(o.Deny)
	o.Rules = slices.Clone(o.Rules)
	var errs []error
	if o.Reboot != RebootInWindow && o.Reboot != RebootNever {
		errs = append(errs, fmt.Errorf("patches.reboot %q: want window or never", o.Reboot))
	}
	if len(o.Rings) == 0 {
		o.Rings = []PatchRing{{Name: "all"}}
	}
	rings := make([]PatchRing, len(o.Rings))
	seen := map[string]bool{}
	for i, r := range o.Rings {
		r.Name = strings.TrimSpace(r.Name)
		where := fmt.Sprintf("patches.rings[%d] %s", i, r.Name)
		switch {
		case r.Name == "" || r.Name == AllRings || strings.ContainsAny(r.Name, " \t,"):
			errs = append(errs, fmt.Errorf("%s: a ring needs a name without spaces or commas (and not *)", where))
		case seen[strings.ToLower(r.Name)]:
			errs = append(errs, fmt.Errorf("%s: the ring name is used twice", where))
		}
		seen[strings.ToLower(r.Name)] = true
		sel, err := filter.ParseStatic(r.Devices)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: devices: %w", where, err))
		}
		r.sel = sel
		if r.After != "" {
			j := slices.IndexFunc(o.Rings[:i], func(p PatchRing) bool { return strings.EqualFold(strings.TrimSpace(p.Name), r.After) })
			if j < 0 {
				errs = append(errs, fmt.Errorf("%s: after %q is not a ring listed before it", where, r.After))
			} else {
				r.After = strings.TrimSpace(o.Rings[j].Name)
			}
			if r.SuccessRate == 0 {
				r.SuccessRate = DefaultRingSuccessRate
			}
			if r.MinDevices <= 0 {
				r.MinDevices = 1
			}
		}
		if r.SuccessRate < 0 || r.SuccessRate > 100 {
			errs = append(errs, fmt.Errorf("%s: success_rate %g is not a percentage 0..100", where, r.SuccessRate))
		}
		if r.Soak < 0 {
			errs = append(errs, fmt.Errorf("%s: soak must not be negative", where))
		}
		if r.ApproveRole == 0 {
			r.ApproveRole = RoleOperator
		}
		rings[i] = r
	}
	o.Rings = rings
	for i, r := range o.Rules {
		where := fmt.Sprintf("patches.auto_approve[%d] %s", i, r.Name)
		if strings.TrimSpace(r.Name) == "" {
			errs = append(errs, fmt.Errorf("%s: a rule needs a name", where))
		}
		for _, c := range r.Classifications {
			if scripts.ClassificationID(c) == "" {
				errs = append(errs, fmt.Errorf("%s: classification %q is not one of %s", where, c, strings.Join(scripts.Classifications(), ", ")))
			}
		}
		for _, s := range r.Severities {
			if !slices.ContainsFunc(severities, func(v string) bool { return strings.EqualFold(v, s) }) {
				errs = append(errs, fmt.Errorf("%s: severity %q is not one of %s", where, s, strings.Join(severities, ", ")))
			}
		}
		for _, name := range r.Rings {
			if o.ring(name) == nil {
				errs = append(errs, fmt.Errorf("%s: ring %q is not in patches.rings", where, name))
			}
		}
		if r.DeferralDays != nil && *r.DeferralDays < 0 {
			errs = append(errs, fmt.Errorf("%s: deferral_days must not be negative", where))
		}
	}
	for i, kb := range o.Deny {
		o.Deny[i] = normalKB(kb)
		if !validKB(o.Deny[i]) {
			errs = append(errs, fmt.Errorf("patches.deny[%d]: %q is not a KB number (KB5034441)", i, kb))
		}
	}
	return o, errors.Join(errs...)
}

// normalKB writes a KB as KB1234567: upper case, with its prefix.
func normalKB(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		s = "KB" + s
	}
	return s
}

// validKB reports KB followed by digits.
func validKB(s string) bool {
	if len(s) < 3 || !strings.HasPrefix(s, "KB") {
		return false
	}
	for _, c := range s[2:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ring finds a ring by name (any case); nil when there is none.
func (o PatchOptions) ring(name string) *PatchRing {
	for i := range o.Rings {
		if strings.EqualFold(o.Rings[i].Name, name) {
			return &o.Rings[i]
		}
	}
	return nil
}

// RingNames lists the rings in order.
func (o PatchOptions) RingNames() []string {
	out := make([]string, len(o.Rings))
	for i, r := range o.Rings {
		out[i] = r.Name
	}
	return out
}

// ringOf is the ring a device is in: the first that selects it; "" when
// none does.
func (o PatchOptions) ringOf(d *DeviceState) string {
	row := d.FilterRow()
	for i := range o.Rings {
		if o.Rings[i].sel.Match(&row) {
			return o.Rings[i].Name
		}
	}
	return ""
}

// denied reports a KB on the deny list.
func (o PatchOptions) denied(kb string) bool {
	return kb != "" && slices.Contains(o.Deny, strings.ToUpper(kb))
}

// ruleApproves reports whether a rule approves an update for a ring at
// at, and the day it will (or did).
func (o PatchOptions) ruleApproves(r PatchRule, u store.PatchUpdate, ring string, at time.Time) (bool, time.Time) {
	if len(r.Rings) > 0 && !slices.ContainsFunc(r.Rings, func(n string) bool { return strings.EqualFold(n, ring) }) {
		return false, time.Time{}
	}
	if len(r.Classifications) > 0 && !slices.ContainsFunc(r.Classifications, func(c string) bool { return strings.EqualFold(c, u.Classification) }) {
		return false, time.Time{}
	}
	if len(r.Severities) > 0 {
		sev := u.Severity
		if sev == "" {
			sev = "none"
		}
		if !slices.ContainsFunc(r.Severities, func(s string) bool { return strings.EqualFold(s, sev) }) {
			return false, time.Time{}
		}
	}
	days := o.DeferralDays
	if r.DeferralDays != nil {
		days = *r.DeferralDays
	}
	released := u.ReleasedAt
	if released.IsZero() {
		released = u.FirstSeen
	}
	due := released.Add(time.Duration(days) * 24 * time.Hour)
	return !at.Before(due), due
}

// approvalBook is the stored decisions by update and ring.
type approvalBook map[string]map[string]store.PatchApproval // update id -> ring (lower case, or *) -> decision

func newApprovalBook(as []store.PatchApproval) approvalBook {
	b := approvalBook{}
	for _, a := range as {
		m := b[a.UpdateID]
		if m == nil {
			m = map[string]store.PatchApproval{}
			b[a.UpdateID] = m
		}
		m[strings.ToLower(a.Ring)] = a
	}
	return b
}

// decision is the stored decision for an update in a ring: the ring's
// own, else one for every ring.
func (b approvalBook) decision(updateID, ring string) (store.PatchApproval, bool) {
	m := b[updateID]
	if a, ok := m[strings.ToLower(ring)]; ok {
		return a, true
	}
	a, ok := m[AllRings]
	return a, ok
}

// gate is whether a ring may install an update now, and why not.
type gate struct {
	open   bool
	reason string // "" when open
}

// ringResults are the outcomes of an update's installs in a ring: per
// device its latest, and the first success.
type ringResults struct {
	tried, ok    int
	firstSuccess time.Time
}

// gateFor decides a ring's gate for an update from the results of the
// ring it follows.
func (r PatchRing) gateFor(res ringResults, at time.Time) gate {
	if r.After == "" {
		return gate{open: true}
	}
	rate := 0.0
	if res.tried > 0 {
		rate = 100 * float64(res.ok) / float64(res.tried)
	}
	switch {
	case res.tried < r.MinDevices:
		return gate{reason: fmt.Sprintf("waits for %s: %d of %d device(s) tried it", r.After, res.tried, r.MinDevices)}
	case rate < r.SuccessRate:
		return gate{reason: fmt.Sprintf("waits for %s: %d of %d installs succeeded (%.0f%%, needs %.0f%%)", r.After, res.ok, res.tried, rate, r.SuccessRate)}
	case at.Before(res.firstSuccess.Add(r.Soak)):
		return gate{reason: fmt.Sprintf("soaks until %s (%s after %s's first success)", res.firstSuccess.Add(r.Soak).UTC().Format("2006-01-02 15:04 UTC"),
			roundAge(r.Soak), r.After)}
	}
	return gate{open: true}
}

// patchOrder sorts updates the way they install best: servicing stack
// first, then what always needs a restart (cumulative updates), then the
// rest, each by KB.
func patchOrder(a, b store.PatchUpdate) int {
	rank := func(u store.PatchUpdate) int {
		switch {
		case strings.Contains(u.Title, "Servicing Stack"):
			return 0
		case u.RebootBehavior == scripts.RebootAlways:
			return 1
		}
		return 2
	}
	return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a.KB, b.KB), cmp.Compare(a.Title, b.Title))
}

// CheckPatchOptions reports what SetPatchOptions would refuse (for a
// config check before anything starts).
func CheckPatchOptions(o PatchOptions) error {
	_, err := o.withDefaults(DefaultQueueExpiry)
	return err
}
