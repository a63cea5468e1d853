// Package creds owns the WinRM credentials rmm uses against a fleet: where
// they are stored (the OS keyring by default, an age-encrypted vault file
// where no keyring exists), how they are named and chosen for a device
// (Resolve), and when they are due for rotation (Stale).
//
// What this package must never do: log anything, or let a secret reach an
// error string, a panic, fmt or slog output, JSON, the database or the UI.
// A password travels only inside a Secret, which formats as "<redacted>"
// everywhere; Secret.Reveal is for the one place that needs the value (the
// WinRM request). Errors name the credential, the backend and the failed
// step, never the value; a backend error that happens to quote the secret
// is replaced by a generic one.
//
// # Backends
//
// The keyring backend (OpenKeyring) keeps one keyring item per credential
// under a service name ("rmm"); the item value is a small JSON document
// {v, user, secret, created_at}. go-keyring cannot enumerate items, so a
// second item, "__index__", holds the sorted list of names. Names beginning
// with "__" are reserved for that reason.
//
// The vault backend (OpenVault) is one age-encrypted file, see vault.go for
// the format. It is opened with a passphrase (age scrypt) or an age
// identity file (X25519). The file must be mode 0600; it is rewritten
// atomically (temp file, fsync, rename, fsync of the directory) under an
// exclusive lock on "<vault>.lock", so concurrent writers, in one process
// or many, never lose each other's changes.
//
// # Secrets in memory: what is and is not promised
//
// Secret keeps the password in a []byte and Wipe zeroes it; the vault
// decodes passwords straight into []byte and zeroes its plaintext buffers
// after use, and the bytes of a Secret are also zeroed when the garbage
// collector frees it. That narrows, but cannot close, the window in which a
// password sits in memory: Reveal returns a Go string (immutable, never
// zeroed); go-keyring and age take strings, so the keyring value and the
// vault passphrase exist as strings too; encoding/json and the garbage
// collector may copy buffers we never see; the memory may be swapped
// out; and reflection-based dumpers that read unexported fields (spew,
// pretty-printers, debuggers) can follow the pointer inside a Secret, where
// fmt only ever sees "<redacted>" or an address. Treat this as hygiene, not a guarantee: the jump host itself must be
// trusted.
package creds
