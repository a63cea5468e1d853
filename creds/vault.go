package creds

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// vaultStore is the Store of OpenVault: one age-encrypted file.
//
// Decrypting costs an scrypt derivation (about a second) with a
// passphrase, so the store keeps the decoded credentials in memory and
// decrypts the file again only when it changed on disk (another rmm
// process wrote it): Get and List of an unchanged vault cost one small
// file read.
type vaultStore struct {
	path     string // absolute, symlinks resolved
	lockPath string
	keys     vaultKeys

	// rename is os.Rename; tests replace it to fail the commit step.
	rename func(oldpath, newpath string) error

	mu      sync.Mutex
	closed  bool
	entries map[string]vaultEntry // decoded contents of the file
	digest  []byte                // SHA-256 of the file entries came from; nil: no file yet
}

// OpenVault opens the vault file at path with unlock. A missing file is an
// empty vault, created (with its parent directory, mode 0700) on the first
// Set. An existing file is read and decrypted now, so a wrong passphrase
// (ErrWrongPassphrase), a damaged file (ErrVaultCorrupt) or a file others
// can read (ErrInsecurePermissions) is reported here, not on first use.
func OpenVault(path string, unlock Unlocker) (Store, error) {
	return openVault(path, unlock)
}

func openVault(path string, unlock Unlocker) (*vaultStore, error) {
	if path == "" {
		return nil, errors.New("creds: open vault: no vault path given")
	}
	if unlock == nil {
		return nil, fmt.Errorf("creds: open vault %s: no passphrase or identity file given", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("creds: open vault %s: %w", path, err)
	}
	// Write through a symlink to its target: a rename onto the link would
	// replace the link, not the vault it points to.
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("creds: open vault %s: %w", path, err)
	}
	keys, err := unlock.keys()
	if err != nil {
		return nil, fmt.Errorf("creds: open vault %s: %w", abs, err)
	}
	v := &vaultStore{
		path:     abs,
		lockPath: abs + ".lock",
		keys:     keys,
		rename:   os.Rename,
	}
	if err := v.refresh(); err != nil {
		return nil, fmt.Errorf("creds: open vault: %w", err)
	}
	return v, nil
}

// Backend implements Store.
func (v *vaultStore) Backend() string { return BackendVault }

// Path returns the vault file's absolute path.
func (v *vaultStore) Path() string { return v.path }

// Get implements Store.
func (v *vaultStore) Get(ctx context.Context, name string) (Credential, error) {
	if err := ctx.Err(); err != nil {
		return Credential{}, fmt.Errorf("creds: get %q: %w", name, err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return Credential{}, fmt.Errorf("creds: get %q: %w", name, ErrClosed)
	}
	if err := v.refresh(); err != nil {
		return Credential{}, fmt.Errorf("creds: get %q: %w", name, err)
	}
	e, ok := v.entries[name]
	if !ok {
		return Credential{}, fmt.Errorf("creds: get %q from vault %s: %w", name, v.path, ErrNotFound)
	}
	return Credential{
		Name:      name,
		User:      e.user,
		Secret:    SecretFromBytes(e.secret),
		CreatedAt: e.created,
		Backend:   BackendVault,
		Scope:     e.scope,
	}, nil
}

// List implements Store.
func (v *vaultStore) List(ctx context.Context) ([]Meta, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("creds: list: %w", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil, fmt.Errorf("creds: list: %w", ErrClosed)
	}
	if err := v.refresh(); err != nil {
		return nil, fmt.Errorf("creds: list: %w", err)
	}
	out := make([]Meta, 0, len(v.entries))
	for _, name := range slices.Sorted(maps.Keys(v.entries)) {
		if reservedName(name) {
			continue // the audit key is not a credential
		}
		e := v.entries[name]
		out = append(out, Meta{Name: name, User: e.user, Backend: BackendVault, CreatedAt: e.created, Scope: e.scope})
	}
	return out, nil
}

// Set implements Store.
func (v *vaultStore) Set(ctx context.Context, c Credential) error {
	if err := validateForSet(c); err != nil {
		return fmt.Errorf("creds: set %q: %w", c.Name, err)
	}
	scope, err := c.Scope.normalize()
	if err != nil {
		return fmt.Errorf("creds: set %q: %w", c.Name, err)
	}
	secret := c.Secret.bytes() // owned by the new entry once committed
	committed := false
	defer func() {
		if !committed {
			clear(secret)
		}
	}()
	err = v.update(ctx, func(m map[string]vaultEntry) (bool, error) {
		m[c.Name] = vaultEntry{user: c.User, secret: secret, created: createdAt(c.CreatedAt), scope: scope}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("creds: set %q: %w", c.Name, scrub(err, secret))
	}
	committed = true
	return nil
}

// Delete implements Store.
func (v *vaultStore) Delete(ctx context.Context, name string) error {
	if reservedName(name) {
		return fmt.Errorf("creds: delete %q: %w", name, errReserved)
	}
	err := v.update(ctx, func(m map[string]vaultEntry) (bool, error) {
		if _, ok := m[name]; !ok {
			return false, fmt.Errorf("not in vault %s: %w", v.path, ErrNotFound)
		}
		delete(m, name)
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("creds: delete %q: %w", name, err)
	}
	return nil
}

// Close implements Store: it zeroes the cached secrets.
func (v *vaultStore) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	v.closed = true
	wipeEntries(v.entries)
	v.entries = nil
	return nil
}

// update runs a read-modify-write of the vault under the in-process mutex
// and the cross-process file lock: it rereads the file if another process
// changed it, lets change edit a copy of the entries, and commits the copy
// atomically. change reports whether it changed anything. On any failure
// the file and the cache are left as they were.
func (v *vaultStore) update(ctx context.Context, change func(map[string]vaultEntry) (bool, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return ErrClosed
	}
	if err := os.MkdirAll(filepath.Dir(v.path), 0o700); err != nil {
		return fmt.Errorf("create vault directory: %w", err)
	}
	lock, err := acquireLock(ctx, v.lockPath)
	if err != nil {
		return fmt.Errorf("lock vault: %w", err)
	}
	defer lock.release()
	if err := v.refresh(); err != nil {
		return err
	}
	next := maps.Clone(v.entries)
	if next == nil {
		next = map[string]vaultEntry{}
	}
	changed, err := change(next)
	if err != nil || !changed {
		return err
	}
	data, err := encodeVault(next, v.keys.recipient)
	if err != nil {
		return fmt.Errorf("vault %s: %w", v.path, err)
	}
	if err := writeFileAtomic(v.path, data, v.rename); err != nil {
		return fmt.Errorf("write vault %s: %w", v.path, err)
	}
	// Zero the secrets the commit replaced or removed; the ones carried
	// over are shared by next.
	for name, old := range v.entries {
		if e, ok := next[name]; !ok || !sameBacking(e.secret, old.secret) {
			clear(old.secret)
		}
	}
	sum := sha256.Sum256(data)
	v.entries, v.digest = next, sum[:]
	return nil
}

// refresh makes the cache match the file on disk. It reads the file
// every time (a few KiB) and decrypts it only when its bytes changed since
// the last read: age output differs on every write (fresh file key and
// nonce), so equal bytes mean the same version, whatever the file system's
// timestamp granularity or inode reuse. The caller holds v.mu.
func (v *vaultStore) refresh() error {
	f, err := os.Open(v.path)
	if errors.Is(err, fs.ErrNotExist) {
		wipeEntries(v.entries)
		v.entries, v.digest = map[string]vaultEntry{}, nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("vault %s: %w", v.path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("vault %s: %w", v.path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("vault %s is not a regular file", v.path)
	}
	if err := checkPrivate(v.path, fi, "vault"); err != nil {
		return err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxVaultFileSize+1))
	if err != nil {
		return fmt.Errorf("vault %s: read: %w", v.path, err)
	}
	sum := sha256.Sum256(data)
	if v.digest != nil && bytes.Equal(v.digest, sum[:]) {
		return nil
	}
	entries, err := decodeVault(data, v.keys)
	if err != nil {
		return fmt.Errorf("vault %s: %w", v.path, err)
	}
	wipeEntries(v.entries)
	v.entries, v.digest = entries, sum[:]
	return nil
}

// writeFileAtomic replaces path with data: a temp file (mode 0600) in the
// same directory, written and fsynced, renamed over path, then the
// directory fsynced so the rename survives a crash. Readers see the old
// file or the new one, never a mix; on failure the old file is untouched
// and the temp file removed.
func writeFileAtomic(path string, data []byte, rename func(oldpath, newpath string) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmpName)
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := io.Copy(tmp, bytes.NewReader(data)); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := rename(tmpName, path); err != nil {
		return err
	}
	// The new vault is in place; a failed directory fsync only weakens
	// crash durability, but say so rather than pretend.
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("vault replaced, but not yet durable: %w", err)
	}
	return nil
}

// sameBacking reports whether a and b share their first byte, that is,
// whether one entry's secret was carried over into the other.
func sameBacking(a, b []byte) bool {
	return len(a) > 0 && len(b) > 0 && &a[0] == &b[0]
}
