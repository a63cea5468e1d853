package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/rmmhq/rmm/creds"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// Credential lookups: a keyring lookup per poll would cost a D-Bus round
// trip each time, so a resolved credential stays in memory for
// credCacheTTL. A lookup that failed is remembered for credFailTTL, so a
// broken store is asked again every few seconds, not by every poll. One
// lookup of a (credential id, site) is in flight at a time, whatever the
// polls waiting for it, and it gives up after credLookupTimeout (a
// keyring waiting for an unlock prompt, a Secret Service that hangs).
const (
	credCacheTTL      = time.Minute
	credFailTTL       = 5 * time.Second
	credLookupTimeout = 10 * time.Second
)

// credCache remembers resolved credentials by (device credential id, site).
type credCache struct {
	mu      sync.Mutex
	entries map[[2]string]credEntry
	gen     uint64 // bumped by forgetCredentials: a lookup started before does not land
	flight  singleflight.Group
}

// credEntry is one lookup's outcome: a credential with its name and
// scope, or the error.
type credEntry struct {
	cred  Credential
	name  string      // the stored credential's name
	scope creds.Scope // the devices it may be sent to
	err   error
	at    time.Time
}

func (en credEntry) fresh(now time.Time) bool {
	if en.err != nil {
		return now.Sub(en.at) < credFailTTL
	}
	return now.Sub(en.at) < credCacheTTL
}

// credentialFor returns the WinRM credential for a device: from the
// credentials store when one is configured (the device's CredentialId
// wins, then its site's, then "default"), else the fixed Options.Credential
// (environment variables, or the simulator's in --demo).
//
// The environment's credential stands in only when the store has none
// for the device (creds.ErrNotFound) and the device names none: a
// keyring that does not answer or a vault that will not open is an
// error, never a reason to send another account. A stored credential is
// sent only to a device inside its scope; anything else is a
// Configuration error, and nothing is sent.
func (e *Engine) credentialFor(ctx context.Context, o Options, d store.Device) (Credential, error) {
	if o.Credentials == nil {
		if o.Credential.User == "" {
			// Nothing to send: never an empty Basic header (a 401 from
			// every host would say nothing about them).
			why := e.PollingOff()
			if why == nil {
				why = errors.New("no WinRM credential: store one with rmm creds set default --user DOMAIN\\user, or set RMM_WINRM_USER and RMM_WINRM_PASSWORD")
			}
			return Credential{}, credentialUnavailable(d, why)
		}
		return o.Credential, nil
	}
	en, err := e.lookupCredential(ctx, o.Credentials, d.CredentialID, d.Site)
	if err != nil {
		return Credential{}, credentialUnavailable(d, err) // the store did not answer in time
	}
	if en.err != nil {
		if errors.Is(en.err, creds.ErrNotFound) && o.Credential.User != "" && d.CredentialID == "" {
			return o.Credential, nil // nothing stored for it: the environment's credential
		}
		return Credential{}, credentialUnavailable(d, en.err)
	}
	if err := en.scope.Allows(scopeTarget(d)); err != nil {
		return Credential{}, &winrm.Error{Class: winrm.ClassConfiguration, Device: d.Hostname, Step: "credential",
			Err: fmt.Errorf("credential %q was not sent: the device is %w (scope: %s)", en.name, err, en.scope)}
	}
	return en.cred, nil
}

// scopeTarget is d as a credential's scope sees it: the name rmm proves
// on HTTPS (the certificate must hold it), its site and groups.
func scopeTarget(d store.Device) creds.ScopeTarget {
	return creds.ScopeTarget{Name: cmp.Or(d.FQDN, d.Hostname), Site: d.Site, Groups: d.Groups}
}

// lookupCredential returns the cached outcome of resolving (credID,
// site), or resolves it: one lookup per key in flight, bounded by
// credLookupTimeout whatever its first caller's deadline, and shared by
// every caller; each caller waits under its own ctx. The returned error
// is only the caller's own ctx ending; the lookup's own failure is in
// the entry.
func (e *Engine) lookupCredential(ctx context.Context, s creds.Store, credID, site string) (credEntry, error) {
	key := [2]string{credID, site}
	c := &e.creds
	c.mu.Lock()
	if en, ok := c.entries[key]; ok && en.fresh(time.Now()) {
		c.mu.Unlock()
		return en, nil
	}
	gen := c.gen
	c.mu.Unlock()
	// The generation is part of the key: after a change (forgetCredentials)
	// a new lookup starts rather than joining one begun before it.
	ch := c.flight.DoChan(fmt.Sprintf("%s\x00%s\x00%d", credID, site, gen), func() (any, error) {
		// A flight that ended between our cache miss and this one
		// starting has left its outcome: use it.
		c.mu.Lock()
		if en, ok := c.entries[key]; ok && en.fresh(time.Now()) {
			c.mu.Unlock()
			return en, nil
		}
		c.mu.Unlock()
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), credLookupTimeout)
		defer cancel()
		var en credEntry
		cr, err := creds.Resolve(lctx, s, credID, site)
		if err != nil {
			en.err = err
		} else {
			en.cred = credentialOf(cr)
			en.name, en.scope = cr.Name, cr.Scope
			cr.Secret.Wipe()
		}
		en.at = time.Now()
		c.mu.Lock()
		if c.gen == gen {
			if c.entries == nil {
				c.entries = make(map[[2]string]credEntry)
			}
			c.entries[key] = en
		}
		c.mu.Unlock()
		return en, nil
	})
	select {
	case r := <-ch:
		return r.Val.(credEntry), nil
	case <-ctx.Done():
		return credEntry{}, fmt.Errorf("credential lookup: %w", context.Cause(ctx))
	}
}

// forgetCredentials drops every cached credential (after a change); a
// lookup in flight does not land in the cache.
func (e *Engine) forgetCredentials() {
	e.creds.mu.Lock()
	e.creds.entries = nil
	e.creds.gen++
	e.creds.mu.Unlock()
}

func (e *Engine) credStore() (creds.Store, error) {
	s := e.options().Credentials
	if s == nil {
		return nil, fmt.Errorf("no credentials store configured")
	}
	return s, nil
}

// SetCredential stores (or replaces) a credential. Scope limits the
// devices it is sent to (zero: any device); it is stored with the
// credential, so setting a credential again without it widens it to any
// device.
type SetCredential struct {
	Name   string
	User   string
	Secret creds.Secret
	Scope  creds.Scope
}

// Action implements Request.
func (SetCredential) Action() string { return "credentials.set" }

// Permission implements Request.
func (SetCredential) Permission() Permission { return PermCredsEdit }

// Mutating implements Request.
func (SetCredential) Mutating() bool { return true }

// Targets implements Request.
func (r SetCredential) Targets() []string { return []string{r.Name} }

// Details implements Request: the user name and the scope, never the
// secret.
func (r SetCredential) Details() map[string]any {
	return map[string]any{"user": r.User, "scope": r.Scope.String()}
}

func (r SetCredential) run(ctx context.Context, e *Engine, _ Identity) (None, error) {
	s, err := e.credStore()
	if err != nil {
		return None{}, err
	}
	if err := creds.ValidateName(r.Name); err != nil {
		return None{}, err
	}
	if r.User == "" || r.Secret.IsZero() {
		return None{}, fmt.Errorf("credential %s: user and password are required", r.Name)
	}
	if err := s.Set(ctx, creds.Credential{Name: r.Name, User: r.User, Secret: r.Secret, Scope: r.Scope}); err != nil {
		return None{}, err
	}
	e.forgetCredentials()
	return None{}, nil
}

// RemoveCredential deletes a credential.
type RemoveCredential struct{ Name string }

// Action implements Request.
func (RemoveCredential) Action() string { return "credentials.remove" }

// Permission implements Request.
func (RemoveCredential) Permission() Permission { return PermCredsEdit }

// Mutating implements Request.
func (RemoveCredential) Mutating() bool { return true }

// Targets implements Request.
func (r RemoveCredential) Targets() []string { return []string{r.Name} }

// Details implements Request.
func (RemoveCredential) Details() map[string]any { return nil }

func (r RemoveCredential) run(ctx context.Context, e *Engine, _ Identity) (None, error) {
	s, err := e.credStore()
	if err != nil {
		return None{}, err
	}
	if err := s.Delete(ctx, r.Name); err != nil {
		return None{}, err
	}
	e.forgetCredentials()
	return None{}, nil
}

// ListCredentials lists credential names, users, ages and where they are
// stored; never secrets.
type ListCredentials struct{}

// Action implements Request.
func (ListCredentials) Action() string { return "credentials.list" }

// Permission implements Request.
func (ListCredentials) Permission() Permission { return PermCredsView }

// Mutating implements Request.
func (ListCredentials) Mutating() bool { return false }

// Targets implements Request.
func (ListCredentials) Targets() []string { return nil }

// Details implements Request.
func (ListCredentials) Details() map[string]any { return nil }

func (ListCredentials) run(ctx context.Context, e *Engine, _ Identity) ([]creds.Meta, error) {
	s, err := e.credStore()
	if err != nil {
		return nil, err
	}
	metas, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(metas, func(a, b creds.Meta) int {
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	return metas, nil
}

// StaleCredentials lists credentials older than the rotation age.
func (e *Engine) StaleCredentials(ctx context.Context, maxAge time.Duration) ([]creds.Meta, error) {
	s := e.options().Credentials
	if s == nil {
		return nil, nil
	}
	metas, err := s.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("stale credentials: %w", err)
	}
	return creds.Stale(metas, time.Now(), maxAge), nil
}

// credentialOf is a stored credential as the WinRM client takes it: a
// password, or a keytab (creds.KeytabSecret) for Kerberos.
func credentialOf(cr creds.Credential) Credential {
	if kt, ok := cr.Secret.RevealKeytab(); ok {
		return Credential{User: cr.User, Keytab: string(kt)}
	}
	return Credential{User: cr.User, Password: cr.Secret.Reveal()}
}
