package sshserve

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	gossh "golang.org/x/crypto/ssh"
)

// loadHostKey reads the host key at path, generating an ed25519 key there
// on first start. The key is the server's identity to its clients, so it is
// kept: a new key on every start would train users to accept host key
// warnings. Like sshd, it refuses a key file others may read.
func loadHostKey(path string, log *slog.Logger) (gossh.Signer, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		data, err = createHostKey(path)
		if err != nil {
			return nil, err
		}
		signer, err := gossh.ParsePrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("ssh host key %s: parse the new key: %w", path, err)
		}
		log.Info("ssh host key generated", "path", path, "fingerprint", gossh.FingerprintSHA256(signer.PublicKey()))
		return signer, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ssh host key %s: %w", path, err)
	}
	if runtime.GOOS != "windows" {
		info, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("ssh host key %s: %w", path, err)
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			return nil, fmt.Errorf("ssh host key %s is readable by other users (mode %04o): chmod 600 it", path, perm)
		}
	}
	signer, err := gossh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("ssh host key %s: not an unencrypted OpenSSH private key: %w", path, err)
	}
	return signer, nil
}

// createHostKey writes a new ed25519 key in OpenSSH format, mode 0600 in a
// directory created 0700. O_EXCL keeps two starting servers from writing
// over each other's key.
func createHostKey(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("ssh host key directory: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ssh host key: %w", err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "rmm ssh host key")
	if err != nil {
		return nil, fmt.Errorf("encode ssh host key: %w", err)
	}
	data := pem.EncodeToMemory(block)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("write ssh host key: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("write ssh host key %s: %w", path, err)
	}
	return data, nil
}
