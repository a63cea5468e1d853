package creds

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// memoryStore is the Store of NewMemoryStore.
type memoryStore struct {
	mu      sync.Mutex
	closed  bool
	entries map[string]vaultEntry
}

// NewMemoryStore returns a Store that keeps credentials in this process
// only, for tests and `rmm --demo`. Nothing is persisted.
func NewMemoryStore() Store { return &memoryStore{entries: map[string]vaultEntry{}} }

// Backend implements Store.
func (m *memoryStore) Backend() string { return BackendMemory }

// Set implements Store.
func (m *memoryStore) Set(ctx context.Context, c Credential) error {
	if err := validateForSet(c); err != nil {
		return fmt.Errorf("creds: set %q: %w", c.Name, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("creds: set %q: %w", c.Name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("creds: set %q: %w", c.Name, ErrClosed)
	}
	if old, ok := m.entries[c.Name]; ok {
		clear(old.secret)
	}
	scope, err := c.Scope.normalize()
	if err != nil {
		return fmt.Errorf("creds: set %q: %w", c.Name, err)
	}
	m.entries[c.Name] = vaultEntry{user: c.User, secret: c.Secret.bytes(), created: createdAt(c.CreatedAt), scope: scope}
	return nil
}

// Get implements Store.
func (m *memoryStore) Get(ctx context.Context, name string) (Credential, error) {
	if err := ctx.Err(); err != nil {
		return Credential{}, fmt.Errorf("creds: get %q: %w", name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Credential{}, fmt.Errorf("creds: get %q: %w", name, ErrClosed)
	}
	e, ok := m.entries[name]
	if !ok {
		return Credential{}, fmt.Errorf("creds: get %q: %w", name, ErrNotFound)
	}
	return Credential{Name: name, User: e.user, Secret: SecretFromBytes(e.secret), CreatedAt: e.created, Backend: BackendMemory, Scope: e.scope}, nil
}

// List implements Store.
func (m *memoryStore) List(ctx context.Context) ([]Meta, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("creds: list: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("creds: list: %w", ErrClosed)
	}
	out := make([]Meta, 0, len(m.entries))
	for _, name := range slices.Sorted(maps.Keys(m.entries)) {
		if reservedName(name) {
			continue // the audit key is not a credential
		}
		e := m.entries[name]
		out = append(out, Meta{Name: name, User: e.user, Backend: BackendMemory, CreatedAt: e.created, Scope: e.scope})
	}
	return out, nil
}

// Delete implements Store.
func (m *memoryStore) Delete(ctx context.Context, name string) error {
	if reservedName(name) {
		return fmt.Errorf("creds: delete %q: %w", name, errReserved)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("creds: delete %q: %w", name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("creds: delete %q: %w", name, ErrClosed)
	}
	e, ok := m.entries[name]
	if !ok {
		return fmt.Errorf("creds: delete %q: %w", name, ErrNotFound)
	}
	clear(e.secret)
	delete(m.entries, name)
	return nil
}

// Close implements Store: it zeroes every secret held.
func (m *memoryStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	wipeEntries(m.entries)
	m.entries = nil
	return nil
}
