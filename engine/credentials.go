package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rmmhq/rmm/creds"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// credCacheTTL bounds how long a resolved credential stays in memory; a
// keyring lookup per poll would cost a D-Bus round trip each time.
const credCacheTTL = time.Minute

// credCache remembers resolved credentials by (device credential id, site).
type credCache struct {
	mu      sync.Mutex
	entries map[[2]string]credEntry
}

type credEntry struct {
	cred Credential
	at   time.Time
}

// credentialFor returns the WinRM credential for a device: from the
// credentials store when one is configured (the device's CredentialId
// wins, then its site's, then "default"), else the fixed Options.Credential
// (environment variables, or the simulator's in --demo).
func (e *Engine) credentialFor(ctx context.Context, o Options, d store.Device) (Credential, error) {
	if o.Credentials == nil {
		return o.Credential, nil
	}
	key := [2]string{d.CredentialID, d.Site}
	e.creds.mu.Lock()
	if en, ok := e.creds.entries[key]; ok && time.Since(en.at) < credCacheTTL {
		e.creds.mu.Unlock()
		return en.cred, nil
	}
	e.creds.mu.Unlock()
	c, err := creds.Resolve(ctx, o.Credentials, d.CredentialID, d.Site)
	if err != nil {
		if o.Credential.User != "" && d.CredentialID == "" {
			return o.Credential, nil // nothing stored yet: the environment's credential
		}
		return Credential{}, &winrm.Error{Class: winrm.ClassConfiguration, Device: d.Hostname, Step: "credential", Err: err}
	}
	cred := Credential{User: c.User, Password: c.Secret.Reveal()}
	e.creds.mu.Lock()
	if e.creds.entries == nil {
		e.creds.entries = make(map[[2]string]credEntry)
	}
	e.creds.entries[key] = credEntry{cred: cred, at: time.Now()}
	e.creds.mu.Unlock()
	return cred, nil
}

// forgetCredentials drops every cached credential (after a change).
func (e *Engine) forgetCredentials() {
	e.creds.mu.Lock()
	e.creds.entries = nil
	e.creds.mu.Unlock()
}

func (e *Engine) credStore() (creds.Store, error) {
	s := e.options().Credentials
	if s == nil {
		return nil, fmt.Errorf("no credentials store configured")
	}
	return s, nil
}

// SetCredential stores (or replaces) a credential.
type SetCredential struct {
	Name   string
	User   string
	Secret creds.Secret
}

// Action implements Request.
func (SetCredential) Action() string { return "credentials.set" }

// Permission implements Request.
func (SetCredential) Permission() Permission { return PermCredsEdit }

// Mutating implements Request.
func (SetCredential) Mutating() bool { return true }

// Targets implements Request.
func (r SetCredential) Targets() []string { return []string{r.Name} }

// Details implements Request: the user name, never the secret.
func (r SetCredential) Details() map[string]any { return map[string]any{"user": r.User} }

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
	if err := s.Set(ctx, creds.Credential{Name: r.Name, User: r.User, Secret: r.Secret}); err != nil {
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
