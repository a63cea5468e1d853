package sshserve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"charm.land/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/rmmhq/rmm/engine"
)

// User is one person who may log in: the SSH user name, the role the
// engine checks, and the public keys that prove it is them.
type User struct {
	Name string
	Role engine.Role
	Keys []gossh.PublicKey
}

// errUnknownKey is a key no configured user has.
var errUnknownKey = errors.New("unknown key")

// lookup finds who may log in as name with key. The login name must be the
// configured user the key belongs to, so the name in the audit log is the
// one the person typed and the one in the config.
func lookup(users []User, name string, key gossh.PublicKey) (User, error) {
	if key == nil {
		return User{}, errors.New("no public key")
	}
	want := key.Marshal()
	owner := ""
	for _, u := range users {
		for _, k := range u.Keys {
			if k == nil || !bytes.Equal(k.Marshal(), want) {
				continue
			}
			if strings.EqualFold(u.Name, name) {
				if u.Role < engine.RoleViewer || u.Role > engine.RoleAdmin {
					return User{}, fmt.Errorf("user %s has no valid role", u.Name)
				}
				return u, nil
			}
			if owner == "" {
				owner = u.Name
			}
		}
	}
	if owner != "" {
		return User{}, fmt.Errorf("the key belongs to user %s; log in as %s", owner, owner)
	}
	return User{}, errUnknownKey
}

// authorize is the public-key callback: only keys of configured users pass.
// Users() is read on every attempt, so a config reload takes effect at the
// next login. The SSH library calls it before the client proves it holds
// the key; the session handler checks again with the key that did.
func (s *Server) authorize(ctx ssh.Context, key ssh.PublicKey) bool {
	if _, err := lookup(s.cfg.Users(), ctx.User(), key); err != nil {
		s.log.Warn("ssh login refused", "user", clean(ctx.User()), "remote", addrString(ctx.RemoteAddr()),
			"key", gossh.FingerprintSHA256(key), "reason", err.Error())
		return false
	}
	return true
}

// identify is the identity of a session: the user the key belongs to now
// (a reload may have removed it since the connection authenticated), with
// the client's address and the key's fingerprint.
func (s *Server) identify(sess ssh.Session) (engine.Identity, error) {
	key := sess.PublicKey()
	u, err := lookup(s.cfg.Users(), sess.User(), key)
	if err != nil {
		return engine.Identity{}, err
	}
	return engine.Identity{
		User:       u.Name,
		Role:       u.Role,
		RemoteAddr: addrString(sess.RemoteAddr()),
		Via:        engine.ViaSSH,
		KeyFP:      gossh.FingerprintSHA256(key),
	}, nil
}

type identityKey struct{}

// IdentityFrom returns the identity of the SSH session whose context ctx
// is (or derives from).
func IdentityFrom(ctx context.Context) (engine.Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(engine.Identity)
	return id, ok
}

func withIdentity(ctx context.Context, id engine.Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// clean makes a client-supplied string (user name, TERM) safe for logs and
// audit rows: printable ASCII only, at most 64 bytes.
func clean(s string) string {
	const limit = 64
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= limit {
			b.WriteString("...")
			break
		}
		if r < 0x20 || r > 0x7e {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}
