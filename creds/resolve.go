package creds

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultMaxAge is the default rotation reminder age (config may override).
const DefaultMaxAge = 90 * 24 * time.Hour

// SiteCredentialName is the conventional name of a site's credential:
// "site:<site>".
func SiteCredentialName(site string) string { return "site:" + site }

// Resolve picks the credential for a device: the device's own credential
// id wins, then the site's credential by convention ("site:<site>"), then
// "default". See ResolveWith for the rules.
func Resolve(ctx context.Context, s Store, deviceCredID, site string) (Credential, error) {
	return ResolveWith(ctx, s, deviceCredID, site, nil)
}

// ResolveWith is Resolve with an explicit site-to-credential map (from
// config) that takes precedence over the "site:<site>" convention.
//
// A credential named explicitly (the device's id, or the site's entry in
// siteCreds) that does not exist is an error, not a reason to fall back:
// sending the fleet-wide default to a device pinned to another account
// would hand admin credentials to the wrong machine. Only the conventional
// "site:<site>" name is optional. Errors other than ErrNotFound (a vault
// that will not open, a keyring that does not answer) stop the search.
func ResolveWith(ctx context.Context, s Store, deviceCredID, site string, siteCreds map[string]string) (Credential, error) {
	if deviceCredID != "" {
		c, err := s.Get(ctx, deviceCredID)
		if err != nil {
			return Credential{}, fmt.Errorf("resolve device credential %q: %w", deviceCredID, err)
		}
		return c, nil
	}
	if site != "" {
		if name := siteCreds[site]; name != "" {
			c, err := s.Get(ctx, name)
			if err != nil {
				return Credential{}, fmt.Errorf("resolve credential %q of site %q: %w", name, site, err)
			}
			return c, nil
		}
		c, err := s.Get(ctx, SiteCredentialName(site))
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Credential{}, fmt.Errorf("resolve credential of site %q: %w", site, err)
		}
	}
	c, err := s.Get(ctx, DefaultName)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			tried := "the device names none and there is no \"default\""
			if site != "" {
				tried = fmt.Sprintf("the device names none, there is no %q and no \"default\"", SiteCredentialName(site))
			}
			return Credential{}, fmt.Errorf("resolve credential: %s: %w", tried, ErrNotFound)
		}
		return Credential{}, fmt.Errorf("resolve default credential: %w", err)
	}
	return c, nil
}

// Stale returns the credentials older than maxAge at now (the rotation
// reminder), in the order given. A credential with no CreatedAt is
// reported too: its age is unknown. maxAge <= 0 turns the reminder off.
func Stale(metas []Meta, now time.Time, maxAge time.Duration) []Meta {
	if maxAge <= 0 {
		return nil
	}
	var out []Meta
	for _, m := range metas {
		if m.CreatedAt.IsZero() || now.Sub(m.CreatedAt) > maxAge {
			out = append(out, m)
		}
	}
	return out
}
