package sshserve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

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
		fp := gossh.FingerprintSHA256(key)
		s.log.Warn("ssh login refused", "user", clean(ctx.User()), "remote", addrString(ctx.RemoteAddr()),
			"key", fp, "reason", err.Error())
		s.auditRefusal(ctx, fp, err.Error())
		return false
	}
	return true
}

// refusedKeys is the context value holding the key fingerprints a
// connection was already refused (and audited) for.
type refusedKeys struct{}

// auditRefusal writes the audit row of a refused login through the
// engine, as a request of the identity the client claimed (no role), so
// it is refused and audited like any request without the permission. The
// SSH library asks about a key twice (offered, then signed): a connection
// is audited once per key. Beyond refusalBurst rows per refusalWindow the
// server audits no more refusals and counts them into the next row that
// it does write (the log line above is kept for each).
func (s *Server) auditRefusal(ctx ssh.Context, fp, reason string) {
	seen, _ := ctx.Value(refusedKeys{}).(map[string]bool)
	if seen[fp] {
		return
	}
	if seen == nil {
		seen = map[string]bool{}
		ctx.SetValue(refusedKeys{}, seen)
	}
	seen[fp] = true
	ok, suppressed := s.refusals.allow(time.Now())
	if !ok {
		return
	}
	id := engine.Identity{User: clean(ctx.User()), RemoteAddr: addrString(ctx.RemoteAddr()), Via: engine.ViaSSH, KeyFP: fp}
	actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = s.cfg.Engine.Do(actx, id, engine.RefuseLogin{Reason: reason, Fingerprint: fp, Suppressed: suppressed})
}

// Refused logins are audited at most refusalBurst per refusalWindow.
const (
	refusalBurst  = 30
	refusalWindow = time.Minute
)

// refusalLimiter counts the refused logins audited in the current window.
type refusalLimiter struct {
	mu         sync.Mutex
	start      time.Time
	n          int
	suppressed int
}

// allow reports whether a refusal at now is audited, and how many were
// not since the last one that was.
func (l *refusalLimiter) allow(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.start) >= refusalWindow {
		l.start, l.n = now, 0
	}
	if l.n >= refusalBurst {
		l.suppressed++
		return false, 0
	}
	l.n++
	sup := l.suppressed
	l.suppressed = 0
	return true, sup
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
