package creds

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// failingStore fails every Get, as a vault with a wrong passphrase would.
type failingStore struct{ Store }

func (failingStore) Get(context.Context, string) (Credential, error) {
	return Credential{}, ErrWrongPassphrase
}

func TestResolvePrecedence(t *testing.T) {
	ctx := context.Background()
	full := NewMemoryStore()
	for _, name := range []string{"default", "site:hq", "dc-admins", "branch-admin"} {
		mustSet(t, full, name, "user-of-"+name, "pw")
	}
	noDefault := NewMemoryStore()
	mustSet(t, noDefault, "site:hq", "u", "pw")
	siteMap := map[string]string{"branch": "branch-admin", "lab": "lab-admin", "hq": "dc-admins"}

	tests := []struct {
		name      string
		store     Store
		device    string
		site      string
		siteCreds map[string]string
		want      string
		wantErr   error
	}{
		{"the device's credential wins over site and default", full, "dc-admins", "hq", nil, "dc-admins", nil},
		{"the device's credential wins over the site map", full, "branch-admin", "hq", siteMap, "branch-admin", nil},
		{"a missing device credential is an error, not a fallback", full, "gone", "hq", nil, "", ErrNotFound},
		{"the site's credential by convention", full, "", "hq", nil, "site:hq", nil},
		{"the site map beats the convention", full, "", "hq", siteMap, "dc-admins", nil},
		{"the site map names a credential", full, "", "branch", siteMap, "branch-admin", nil},
		{"a missing mapped site credential is an error, not a fallback", full, "", "lab", siteMap, "", ErrNotFound},
		{"a site without a credential falls back to default", full, "", "paris", siteMap, "default", nil},
		{"no site falls back to default", full, "", "", nil, "default", nil},
		{"a site credential works without a default", noDefault, "", "hq", nil, "site:hq", nil},
		{"nothing to use is not found", noDefault, "", "paris", nil, "", ErrNotFound},
		{"nothing at all is not found", NewMemoryStore(), "", "", nil, "", ErrNotFound},
		{"a store failure stops the search", failingStore{full}, "", "hq", nil, "", ErrWrongPassphrase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ResolveWith(ctx, tt.store, tt.device, tt.site, tt.siteCreds)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %q, %v; want error %v", c.Name, err, tt.wantErr)
				}
				return
			}
			if err != nil || c.Name != tt.want {
				t.Fatalf("got %q, %v; want %q", c.Name, err, tt.want)
			}
		})
	}
	if c, err := Resolve(ctx, full, "", "hq"); err != nil || c.Name != "site:hq" {
		t.Errorf("Resolve = %q, %v; want site:hq", c.Name, err)
	}
}

func TestStale(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	metas := []Meta{
		{Name: "a-fresh", CreatedAt: now.Add(-10 * day)},
		{Name: "b-old", CreatedAt: now.Add(-91 * day)},
		{Name: "c-exactly-90-days", CreatedAt: now.Add(-90 * day)},
		{Name: "d-unknown-age"},
		{Name: "e-ancient", CreatedAt: now.Add(-3 * 365 * day)},
		{Name: "f-future", CreatedAt: now.Add(day)},
	}
	tests := []struct {
		name   string
		maxAge time.Duration
		want   []string
	}{
		{"the default 90 days flags older and undated credentials", DefaultMaxAge, []string{"b-old", "d-unknown-age", "e-ancient"}},
		{"a short max age flags all but the future one", day, []string{"a-fresh", "b-old", "c-exactly-90-days", "d-unknown-age", "e-ancient"}},
		{"zero turns the reminder off", 0, nil},
		{"a negative age turns the reminder off", -day, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := names(Stale(metas, now, tt.maxAge)); !slices.Equal(got, tt.want) {
				t.Errorf("Stale = %v, want %v", got, tt.want)
			}
		})
	}
	if Stale(nil, now, DefaultMaxAge) != nil {
		t.Error("Stale of nothing is not empty")
	}
}
