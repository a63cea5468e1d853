package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rmmhq/rmm/creds"
	"github.com/rmmhq/rmm/store"
)

// AlertTypeCredentialAge is the rotation reminder: a stored credential
// older than security.credential_max_age. It concerns no device; its
// Instance is the credential's name.
const AlertTypeCredentialAge = "credential_age"

// credentialCheckEvery is how often a running CredentialWatch checks.
const credentialCheckEvery = 24 * time.Hour

// CredentialWatch raises a device-less Info alert for each stored
// credential older than the rotation age, and resolves it once the
// credential is rotated (set again) or removed. It keeps the stale names
// for the console's status bar. Check runs one check; Run checks at once
// and then daily until its context ends.
type CredentialWatch struct {
	eng    *Engine
	maxAge time.Duration
	now    func() time.Time

	mu    sync.Mutex
	stale []string // "NAME (N days)", sorted by name
}

// NewCredentialWatch watches e's credentials store against maxAge (0:
// no reminders).
func NewCredentialWatch(e *Engine, maxAge time.Duration) *CredentialWatch {
	return &CredentialWatch{eng: e, maxAge: maxAge, now: time.Now}
}

// Stale returns the credentials found over the rotation age by the last
// check, as "NAME (N days)".
func (w *CredentialWatch) Stale() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.stale)
}

// Run checks now and then every day until ctx ends. A failed check is
// logged; the next one tries again.
func (w *CredentialWatch) Run(ctx context.Context) {
	t := time.NewTicker(credentialCheckEvery)
	defer t.Stop()
	for {
		if err := w.Check(ctx); err != nil && ctx.Err() == nil {
			w.eng.log.Warn("credential rotation check failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check lists the stored credentials (names and dates only), raises or
// refreshes an Info alert for each one over the rotation age, and
// resolves the alerts of credentials that are no longer over it.
func (w *CredentialWatch) Check(ctx context.Context) error {
	now := w.now()
	var stale []creds.Meta
	if s := w.eng.options().Credentials; s != nil && w.maxAge > 0 {
		metas, err := s.List(ctx)
		if err != nil {
			return fmt.Errorf("credential rotation check: %w", err)
		}
		stale = creds.Stale(metas, now, w.maxAge)
	}
	maxDays := int(w.maxAge.Hours() / 24)
	names := make([]string, 0, len(stale))
	var fs []finding
	for _, m := range stale {
		msg := fmt.Sprintf("credential %s has no creation date (max %d days): rotate it with rmm creds set %s", m.Name, maxDays, m.Name)
		label := m.Name + " (age unknown)"
		if !m.CreatedAt.IsZero() {
			days := int(now.Sub(m.CreatedAt).Hours() / 24)
			msg = fmt.Sprintf("credential %s is %d days old (max %d): rotate it with rmm creds set %s", m.Name, days, maxDays, m.Name)
			label = fmt.Sprintf("%s (%d days)", m.Name, days)
		}
		names = append(names, label)
		fs = append(fs, finding{key: credentialAlertKey(m.Name), holds: true, raise: true, severity: SeverityInfo, message: msg})
	}
	slices.Sort(names)

	b := w.eng.alerts
	b.mu.Lock()
	for _, a := range b.active {
		if a.DeviceID == 0 && a.Type == AlertTypeCredentialAge &&
			!slices.ContainsFunc(stale, func(m creds.Meta) bool { return m.Name == a.Instance }) {
			fs = append(fs, clearedFinding(a.key()))
		}
	}
	steps := b.plan(store.Device{}, fs, now)
	b.mu.Unlock()
	err := b.write(ctx, store.Device{Hostname: "credentials"}, steps, now)

	w.mu.Lock()
	w.stale = names
	w.mu.Unlock()
	return err
}

func credentialAlertKey(name string) store.AlertKey {
	return store.AlertKey{Type: AlertTypeCredentialAge, Instance: name}
}
