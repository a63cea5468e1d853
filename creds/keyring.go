package creds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/zalando/go-keyring"
)

// DefaultService is the keyring service name rmm stores its items under.
const DefaultService = "rmm"

// indexItem is the keyring item that lists the credential names, because
// go-keyring cannot enumerate a service's items.
const indexItem = "__index__"

// keyringItemVersion is the newest JSON layout of keyring values this
// rmm reads. Version 2 added the scope; an item is written as version 1
// when it has none, so an older rmm still reads it, and as version 2
// when it has one, so an older rmm refuses it rather than send the
// credential outside its scope.
const keyringItemVersion = 2

// keyringItem is the value of one credential's keyring item. It holds the
// password: never log it or put it in an error.
type keyringItem struct {
	V         int       `json:"v"`
	User      string    `json:"user"`
	Secret    string    `json:"secret"`
	CreatedAt time.Time `json:"created_at"`
	Scope     *Scope    `json:"scope,omitempty"`
}

// keyringIndex is the value of the index item.
type keyringIndex struct {
	V     int      `json:"v"`
	Names []string `json:"names"`
}

// keyringStore is the Store of OpenKeyring.
//
// Every call goes through go-keyring, which on Linux talks D-Bus to the
// Secret Service and can block (a locked collection waiting for an unlock
// prompt, a Secret Service that hangs). Calls therefore run one at a time
// in a goroutine and the caller's ctx bounds the wait; an abandoned call
// finishes in the background, as nothing can interrupt go-keyring. The
// next caller waits for the turn (busy) under its own ctx, not for a
// mutex in a goroutine of its own: a hung keyring holds one goroutine,
// not one per caller that gave up.
type keyringStore struct {
	service string
	// lockPath serializes index updates across rmm processes; "" when no
	// private directory was available (then only within this process).
	lockPath string

	busy   chan struct{} // one go-keyring call at a time (cap 1); it also serializes the index's read-modify-write
	closed atomic.Bool
}

// OpenKeyring returns a Store over the OS keyring (Secret Service on Linux,
// Keychain on macOS, Credential Manager on Windows) under service, "rmm"
// when empty. It does not check that the keyring works: see
// KeyringAvailable, or use Open, which does.
func OpenKeyring(service string) (Store, error) {
	if service == "" {
		service = DefaultService
	}
	if strings.ContainsFunc(service, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		return nil, fmt.Errorf("creds: keyring service %q: only printable ASCII is allowed", service)
	}
	return &keyringStore{service: service, lockPath: defaultKeyringLockPath(service), busy: make(chan struct{}, 1)}, nil
}

// defaultKeyringLockPath returns the lock file that serializes index
// updates of service between processes, in the user's cache directory, or
// "" when there is none.
func defaultKeyringLockPath(service string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	dir = filepath.Join(dir, "rmm")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return ""
	}
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, service)
	return filepath.Join(dir, "keyring-"+safe+".lock")
}

// Backend implements Store.
func (k *keyringStore) Backend() string { return BackendKeyring }

// Close implements Store. The keyring store caches no secrets. A call
// already running finishes; later calls fail with ErrClosed.
func (k *keyringStore) Close() error {
	k.closed.Store(true)
	return nil
}

// Set implements Store: it writes the item, then adds the name to the
// index.
func (k *keyringStore) Set(ctx context.Context, c Credential) error {
	if err := validateForSet(c); err != nil {
		return fmt.Errorf("creds: set %q: %w", c.Name, err)
	}
	scope, err := c.Scope.normalize()
	if err != nil {
		return fmt.Errorf("creds: set %q: %w", c.Name, err)
	}
	// The goroutine of run owns this copy: it may outlive this call when
	// ctx ends first, so it scrubs its own errors and zeroes the copy.
	secret := c.Secret.bytes()
	err = k.run(ctx, true, func() { clear(secret) }, func() (err error) {
		defer func() { err = scrub(err, secret) }()
		item := keyringItem{V: 1, User: c.User, Secret: string(secret), CreatedAt: createdAt(c.CreatedAt)}
		if !scope.IsZero() {
			item.V, item.Scope = 2, &scope
		}
		value, err := json.Marshal(item)
		if err != nil {
			return errors.New("encode keyring item failed")
		}
		// go-keyring takes a string: an immutable copy we cannot zero.
		err = keyring.Set(k.service, c.Name, string(value))
		clear(value)
		if err != nil {
			return fmt.Errorf("write keyring item: %w", keyringError(err))
		}
		if err := k.editIndex(func(names []string) []string {
			if i, found := slices.BinarySearch(names, c.Name); !found {
				names = slices.Insert(names, i, c.Name)
			}
			return names
		}); err != nil {
			return fmt.Errorf("item written, but %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("creds: set %q in keyring %q: %w", c.Name, k.service, err)
	}
	return nil
}

// Get implements Store.
func (k *keyringStore) Get(ctx context.Context, name string) (Credential, error) {
	var c Credential
	err := k.run(ctx, false, nil, func() error {
		item, err := k.readItem(name)
		if err != nil {
			return err
		}
		c = Credential{
			Name:      name,
			User:      item.User,
			Secret:    NewSecret(item.Secret),
			CreatedAt: item.CreatedAt.UTC(),
			Backend:   BackendKeyring,
			Scope:     item.scope(),
		}
		return nil
	})
	if err != nil {
		return Credential{}, fmt.Errorf("creds: get %q from keyring %q: %w", name, k.service, err)
	}
	return c, nil
}

// List implements Store: it reads the index, then each item for its user
// and creation time. Names whose item is gone (removed outside rmm) are
// skipped.
func (k *keyringStore) List(ctx context.Context) ([]Meta, error) {
	var out []Meta
	err := k.run(ctx, false, nil, func() error {
		names, err := k.readIndex()
		if err != nil {
			return err
		}
		for _, name := range names {
			item, err := k.readItem(name)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("credential %q: %w", name, err)
			}
			out = append(out, Meta{Name: name, User: item.User, Backend: BackendKeyring, CreatedAt: item.CreatedAt.UTC(), Scope: item.scope()})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("creds: list keyring %q: %w", k.service, err)
	}
	slices.SortFunc(out, func(a, b Meta) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Delete implements Store: it removes the item, then the name from the
// index (also when the item was already gone, to heal the index).
func (k *keyringStore) Delete(ctx context.Context, name string) error {
	if reservedName(name) {
		return fmt.Errorf("creds: delete %q from keyring %q: %w", name, k.service, errReserved)
	}
	err := k.run(ctx, true, nil, func() error {
		missing := false
		if err := keyring.Delete(k.service, name); errors.Is(err, keyring.ErrNotFound) {
			missing = true
		} else if err != nil {
			return fmt.Errorf("delete keyring item: %w", keyringError(err))
		}
		listed := false
		if err := k.editIndex(func(names []string) []string {
			if i, found := slices.BinarySearch(names, name); found {
				listed = true
				names = slices.Delete(names, i, i+1)
			}
			return names
		}); err != nil {
			return err
		}
		if missing {
			if listed {
				return fmt.Errorf("item was already gone (removed from the index): %w", ErrNotFound)
			}
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("creds: delete %q from keyring %q: %w", name, k.service, err)
	}
	return nil
}

// run calls fn in a goroutine once it is the store's turn (and, when
// write, under the cross-process lock), and returns when fn does or ctx
// is done, whichever comes first. A caller whose ctx ends while another
// call holds the turn (a hung keyring) gives up without starting a
// goroutine. fn is skipped when ctx is done before it could start, so an
// abandoned Set never lands later. release, when not nil, runs once the
// goroutine is finished with fn's data, whether fn ran or not.
func (k *keyringStore) run(ctx context.Context, write bool, release func(), fn func() error) error {
	if release == nil {
		release = func() {}
	}
	if err := ctx.Err(); err != nil {
		release()
		return err
	}
	select {
	case k.busy <- struct{}{}:
	case <-ctx.Done():
		release()
		return fmt.Errorf("keyring did not answer (an earlier call is still waiting for it): %w", ctx.Err())
	}
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		defer func() { <-k.busy }()
		defer release()
		if k.closed.Load() {
			err = ErrClosed
			return
		}
		if write && k.lockPath != "" {
			lock, lerr := acquireLock(ctx, k.lockPath)
			if lerr != nil {
				err = fmt.Errorf("lock keyring index: %w", lerr)
				return
			}
			defer lock.release()
		}
		if err = ctx.Err(); err != nil {
			return
		}
		err = fn()
	}()
	select {
	case <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("keyring did not answer: %w", ctx.Err())
	}
}

// readItem reads and decodes the item of name. The caller holds the turn.
func (k *keyringStore) readItem(name string) (keyringItem, error) {
	value, err := keyring.Get(k.service, name)
	if errors.Is(err, keyring.ErrNotFound) {
		return keyringItem{}, ErrNotFound
	}
	if err != nil {
		return keyringItem{}, fmt.Errorf("read keyring item: %w", keyringError(err))
	}
	var item keyringItem
	// The value holds the password: never quote it or the JSON error.
	if err := json.Unmarshal([]byte(value), &item); err != nil || item.V < 1 || item.Secret == "" {
		return keyringItem{}, errors.New("keyring item is not in rmm's format (set by another tool?): run `rmm creds set` again")
	}
	if item.V > keyringItemVersion {
		return keyringItem{}, fmt.Errorf("keyring item format %d is newer than this rmm understands (%d): upgrade rmm", item.V, keyringItemVersion)
	}
	return item, nil
}

// scope is the item's scope; zero when it has none.
func (it keyringItem) scope() Scope {
	if it.Scope == nil {
		return Scope{}
	}
	return *it.Scope
}

// readIndex returns the sorted names in the index item; none when the
// item does not exist yet. The caller holds the turn.
func (k *keyringStore) readIndex() ([]string, error) {
	value, err := keyring.Get(k.service, indexItem)
	if errors.Is(err, keyring.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read keyring index: %w", keyringError(err))
	}
	var idx keyringIndex
	if err := json.Unmarshal([]byte(value), &idx); err != nil || idx.V < 1 {
		return nil, fmt.Errorf("keyring index item %q of service %q is damaged: delete it with your keyring tool and set the credentials again", indexItem, k.service)
	}
	names := slices.DeleteFunc(idx.Names, func(n string) bool { return ValidateName(n) != nil })
	slices.Sort(names)
	return slices.Compact(names), nil
}

// editIndex applies edit to the index and writes it back when it changed.
// The caller holds the turn and, across processes, the lock file.
func (k *keyringStore) editIndex(edit func([]string) []string) error {
	names, err := k.readIndex()
	if err != nil {
		return err
	}
	before := slices.Clone(names)
	names = edit(names)
	if slices.Equal(before, names) {
		return nil
	}
	if names == nil {
		names = []string{}
	}
	value, err := json.Marshal(keyringIndex{V: 1, Names: names})
	if err != nil {
		return errors.New("encode keyring index failed")
	}
	if err := keyring.Set(k.service, indexItem, string(value)); err != nil {
		return fmt.Errorf("update keyring index: %w", keyringError(err))
	}
	return nil
}

// keyringError makes a go-keyring error readable for an admin.
func keyringError(err error) error {
	if errors.Is(err, keyring.ErrSetDataTooBig) {
		return fmt.Errorf("the keyring refused the item as too large (Windows allows 2560 bytes): %w", err)
	}
	return err
}
