package creds

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/zalando/go-keyring"
)

// The audit key: the secret under which the audit chain's rows are
// HMAC'd (store/auditkey.go). It lives beside the WinRM credentials, in
// the same keyring service or vault file, as one reserved item that
// `rmm creds list` does not show and `rmm creds rm` cannot remove. It is
// created at first use: the first rmm process that opens a database with
// this store makes it. Back it up with the vault file (or the keyring):
// without it a keyed audit chain can be neither extended nor verified.

// AuditKeyItem is the reserved item name of the audit key.
const AuditKeyItem = "__audit_key__"

// AuditKeySize is the audit key's length in bytes.
const AuditKeySize = 32

// auditKeyUser is the user field of the audit key's item (the vault and
// keyring formats require one).
const auditKeyUser = "rmm-audit"

// reservedName reports whether name is an item only this package writes.
func reservedName(name string) bool { return name == AuditKeyItem }

// errReserved is returned when a caller asks to remove a reserved item.
var errReserved = errors.New("this item is reserved for rmm (the audit key) and cannot be removed with rmm creds")

// reservedItems is what each backend does for reserved items: read one,
// and create one unless it exists, atomically across processes.
type reservedItems interface {
	getReserved(ctx context.Context, name string) ([]byte, error)
	ensureReserved(ctx context.Context, name string, value []byte) ([]byte, error)
}

// LoadAuditKey returns the audit key kept in s; the error wraps ErrNotFound
// when there is none. The caller owns the returned bytes and should zero
// them when done.
func LoadAuditKey(ctx context.Context, s Store) ([]byte, error) {
	r, ok := s.(reservedItems)
	if !ok {
		return nil, fmt.Errorf("creds: the %s store cannot hold the audit key", s.Backend())
	}
	b, err := r.getReserved(ctx, AuditKeyItem)
	if err != nil {
		return nil, fmt.Errorf("creds: read the audit key from the %s: %w", s.Backend(), err)
	}
	if len(b) != AuditKeySize {
		clear(b)
		return nil, fmt.Errorf("creds: the audit key in the %s is %d bytes, want %d (edited by another tool?)",
			s.Backend(), len(b), AuditKeySize)
	}
	return b, nil
}

// EnsureAuditKey returns the audit key kept in s, creating a random one
// first when there is none. Two processes creating it at once end up with
// the same key (the vault's file lock, the keyring's index lock).
func EnsureAuditKey(ctx context.Context, s Store) ([]byte, error) {
	r, ok := s.(reservedItems)
	if !ok {
		return nil, fmt.Errorf("creds: the %s store cannot hold the audit key", s.Backend())
	}
	fresh := make([]byte, AuditKeySize)
	_, _ = rand.Read(fresh) // crypto/rand.Read never fails
	b, err := r.ensureReserved(ctx, AuditKeyItem, fresh)
	clear(fresh)
	if err != nil {
		return nil, fmt.Errorf("creds: create the audit key in the %s: %w", s.Backend(), err)
	}
	if len(b) != AuditKeySize {
		clear(b)
		return nil, fmt.Errorf("creds: the audit key in the %s is %d bytes, want %d (edited by another tool?)",
			s.Backend(), len(b), AuditKeySize)
	}
	return b, nil
}

// getReserved implements reservedItems for the vault.
func (v *vaultStore) getReserved(ctx context.Context, name string) ([]byte, error) {
	c, err := v.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	defer c.Secret.Wipe()
	return append([]byte(nil), c.Secret.bytes()...), nil
}

// ensureReserved implements reservedItems for the vault: under the
// vault's lock, the item is written only when absent.
func (v *vaultStore) ensureReserved(ctx context.Context, name string, value []byte) ([]byte, error) {
	var out []byte
	err := v.update(ctx, func(m map[string]vaultEntry) (bool, error) {
		if e, ok := m[name]; ok {
			out = append([]byte(nil), e.secret...)
			return false, nil
		}
		m[name] = vaultEntry{user: auditKeyUser, secret: append([]byte(nil), value...), created: time.Now().UTC()}
		out = append([]byte(nil), value...)
		return true, nil
	})
	if err != nil {
		clear(out)
		return nil, err
	}
	return out, nil
}

// getReserved implements reservedItems for the memory store.
func (m *memoryStore) getReserved(ctx context.Context, name string) ([]byte, error) {
	c, err := m.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	defer c.Secret.Wipe()
	return append([]byte(nil), c.Secret.bytes()...), nil
}

// ensureReserved implements reservedItems for the memory store.
func (m *memoryStore) ensureReserved(ctx context.Context, name string, value []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if e, ok := m.entries[name]; ok {
		return append([]byte(nil), e.secret...), nil
	}
	m.entries[name] = vaultEntry{user: auditKeyUser, secret: append([]byte(nil), value...), created: time.Now().UTC()}
	return append([]byte(nil), value...), nil
}

// getReserved implements reservedItems for the keyring. Reserved items are
// not in the index, so `rmm creds list` does not show them. The keyring
// layout's secret is text, so the key is kept there in hex.
func (k *keyringStore) getReserved(ctx context.Context, name string) ([]byte, error) {
	var out []byte
	err := k.run(ctx, false, nil, func() error {
		item, err := k.readItem(name)
		if err != nil {
			return err
		}
		if out, err = hex.DecodeString(item.Secret); err != nil {
			return errors.New("the keyring item is not an rmm audit key (edited by another tool?)")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ensureReserved implements reservedItems for the keyring, under the
// cross-process lock that also guards the index.
func (k *keyringStore) ensureReserved(ctx context.Context, name string, value []byte) ([]byte, error) {
	val := hex.EncodeToString(value)
	var out []byte
	err := k.run(ctx, true, nil, func() error {
		item, err := k.readItem(name)
		switch {
		case err == nil:
			val = item.Secret // another process made it first
		case !errors.Is(err, ErrNotFound):
			return err
		default:
			enc, err := json.Marshal(keyringItem{V: keyringItemVersion, User: auditKeyUser, Secret: val,
				CreatedAt: time.Now().UTC()})
			if err != nil {
				return errors.New("encode keyring item failed")
			}
			err = keyring.Set(k.service, name, string(enc))
			clear(enc)
			if err != nil {
				return fmt.Errorf("write keyring item: %w", keyringError(err))
			}
		}
		if out, err = hex.DecodeString(val); err != nil {
			return errors.New("the keyring item is not an rmm audit key (edited by another tool?)")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
