package creds

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
)

func TestTheAuditKeyIsMadeOnceAndKeptOutOfSight(t *testing.T) {
	ctx := context.Background()
	stores := map[string]func(t *testing.T) Store{
		"vault":   func(t *testing.T) Store { v, _ := newTestVault(t); return v },
		"keyring": newMockKeyring,
		"memory":  func(*testing.T) Store { return NewMemoryStore() },
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			mustSet(t, s, "default", "rmm", "pw-"+canaryCore)
			if _, err := LoadAuditKey(ctx, s); !errors.Is(err, ErrNotFound) {
				t.Fatalf("load before any: %v, want ErrNotFound", err)
			}
			k1, err := EnsureAuditKey(ctx, s)
			if err != nil || len(k1) != AuditKeySize {
				t.Fatalf("ensure: %d bytes, %v", len(k1), err)
			}
			k2, err := EnsureAuditKey(ctx, s)
			if err != nil || !bytes.Equal(k1, k2) {
				t.Fatalf("a second ensure made another key (%v)", err)
			}
			k3, err := LoadAuditKey(ctx, s)
			if err != nil || !bytes.Equal(k1, k3) {
				t.Fatalf("load after ensure: %v", err)
			}
			metas, err := s.List(ctx)
			if err != nil || len(metas) != 1 || metas[0].Name != "default" {
				t.Errorf("list = %+v, %v: want only default, not the audit key", metas, err)
			}
			if err := s.Delete(ctx, AuditKeyItem); !errors.Is(err, errReserved) {
				t.Errorf("delete of the audit key: %v, want it refused", err)
			}
			if k4, err := LoadAuditKey(ctx, s); err != nil || !bytes.Equal(k1, k4) {
				t.Errorf("the key changed after a refused delete (%v)", err)
			}
		})
	}
}

func TestTheAuditKeySurvivesReopeningTheVault(t *testing.T) {
	ctx := context.Background()
	v, path := newTestVault(t)
	k1, err := EnsureAuditKey(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := OpenVault(path, testPassphrase(testPass))
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	k2, err := LoadAuditKey(ctx, v2)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Errorf("reopened vault: %v, same key %v", err, bytes.Equal(k1, k2))
	}
}

func TestTwoStoresCreatingTheAuditKeyAtOnceGetTheSameOne(t *testing.T) {
	ctx := context.Background()
	_, path := newTestVault(t)
	var wg sync.WaitGroup
	keys := make([][]byte, 6)
	for i := range keys {
		wg.Go(func() {
			v, err := OpenVault(path, testPassphrase(testPass))
			if err != nil {
				t.Error(err)
				return
			}
			defer v.Close()
			keys[i], err = EnsureAuditKey(ctx, v)
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range keys {
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("store %d got another key than store 0", i)
		}
	}
}
