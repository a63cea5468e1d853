package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/rmmhq/rmm/engine"
)

// Creds is a relay's credentials file: what `rmm relay enroll S` writes
// and `rmm relay --creds FILE` reads. It holds the leaf password (a
// secret: the file is written mode 0600) and central's public signing
// key, which the relay pins: it runs only commands signed with it.
type Creds struct {
	Site       string `yaml:"site"`
	Hub        string `yaml:"hub"` // nats-leaf://host:7422 or tls://host:7422
	User       string `yaml:"user"`
	Password   string `yaml:"password"`
	CentralKey string `yaml:"central_key"` // base64 ed25519 public key
}

func (c Creds) centralKey() (ed25519.PublicKey, error) {
	k, err := base64.StdEncoding.DecodeString(c.CentralKey)
	if err != nil || len(k) != ed25519.PublicKeySize {
		return nil, errors.New("central_key: not a base64 ed25519 public key")
	}
	return ed25519.PublicKey(k), nil
}

func (c Creds) validate() error {
	switch {
	case c.Site == "":
		return errors.New("site: missing")
	case c.User == "":
		return errors.New("user: missing")
	case c.Password == "":
		return errors.New("password: missing")
	}
	if _, err := c.centralKey(); err != nil {
		return err
	}
	if c.Hub != "" {
		if _, err := hubURL(c.Hub); err != nil {
			return fmt.Errorf("hub: %w", err)
		}
	}
	return nil
}

// hubURL checks a hub address: nats-leaf:// (plain TCP), tls:// (TLS),
// with a host and a port.
func hubURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", s, err)
	}
	switch u.Scheme {
	case "nats-leaf", "nats", "tls":
	default:
		return nil, fmt.Errorf("%q: scheme must be nats-leaf:// or tls://", s)
	}
	if u.Hostname() == "" || u.Port() == "" {
		return nil, fmt.Errorf("%q: want scheme://host:port", s)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%q: credentials belong in the credentials file, not the URL", s)
	}
	return u, nil
}

// ReadCreds reads and checks a credentials file; errors name the file and
// the field.
func ReadCreds(path string) (Creds, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Creds{}, fmt.Errorf("relay credentials: %w", err)
	}
	var c Creds
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Creds{}, fmt.Errorf("relay credentials %s: %w", path, err)
	}
	if err := c.validate(); err != nil {
		return Creds{}, fmt.Errorf("relay credentials %s: %w", path, err)
	}
	return c, nil
}

// WriteCreds writes c to path, mode 0600, refusing to replace a file.
func WriteCreds(path string, c Creds) error {
	b, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("relay credentials: %w", err)
	}
	head := "# rmm relay credentials for site " + c.Site + ": a secret, keep it mode 0600.\n" +
		"# Use: rmm relay --creds " + filepath.Base(path) + "\n"
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("relay credentials: %w", err)
	}
	if _, err := f.Write(append([]byte(head), b...)); err != nil {
		f.Close()
		return fmt.Errorf("relay credentials %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("relay credentials %s: %w", path, err)
	}
	return nil
}

// LoadSigningKey reads central's ed25519 command-signing key from path,
// creating it (mode 0600) when absent.
func LoadSigningKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, priv, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return nil, fmt.Errorf("relay signing key: %w", gerr)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("relay signing key: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("relay signing key: %w", err)
		}
		_, werr := f.WriteString(base64.StdEncoding.EncodeToString(priv.Seed()) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, fmt.Errorf("relay signing key %s: %w", path, werr)
		}
		return priv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("relay signing key: %w", err)
	}
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("relay signing key %s: not a base64 ed25519 seed", path)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// Enroll registers site for a relay through central's engine (the
// EnrollRelay request: an Admin's, audited) and returns its credentials:
// the leaf user and its new random password (central keeps the bcrypt
// hash only), the hub address the relay dials and central's public
// signing key. Enrolling a site again replaces its password; the hub
// accepts the new one from its next start.
func Enroll(ctx context.Context, eng *engine.Engine, id engine.Identity, signingKey ed25519.PrivateKey, site, hub string) (Creds, error) {
	site = strings.TrimSpace(site)
	if site == "" {
		return Creds{}, fmt.Errorf("enroll: %w: site name is empty", engine.ErrBadInput)
	}
	if _, err := hubURL(hub); err != nil {
		return Creds{}, fmt.Errorf("enroll %s: %w: hub: %w", site, engine.ErrBadInput, err)
	}
	en, err := engine.Call(ctx, eng, id, engine.EnrollRelay{Site: site, LeafUser: leafUser(site)})
	if err != nil {
		return Creds{}, err
	}
	pub := signingKey.Public().(ed25519.PublicKey)
	return Creds{Site: en.Site, Hub: hub, User: en.LeafUser, Password: en.Password, CentralKey: base64.StdEncoding.EncodeToString(pub)}, nil
}
