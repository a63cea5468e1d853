package creds

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
)

// The keyring tests replace go-keyring's provider with its in-memory mock
// for the whole test process, so they do not run in parallel, and the
// probe of the real keyring runs in a helper process (probe_test.go).

const testService = "rmm-test"

// newMockKeyring returns a keyring store over a fresh go-keyring mock.
func newMockKeyring(t *testing.T) Store {
	t.Helper()
	keyring.MockInit()
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // the index lock file
	k, err := OpenKeyring(testService)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyringSetGetListDelete(t *testing.T) {
	ctx := context.Background()
	k := newMockKeyring(t)
	if k.Backend() != BackendKeyring {
		t.Errorf("Backend() = %q", k.Backend())
	}
	if metas, err := k.List(ctx); err != nil || len(metas) != 0 {
		t.Fatalf("an empty keyring lists %v, %v", metas, err)
	}
	created := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := k.Set(ctx, Credential{Name: "site:hq", User: `CONTOSO\svc-rmm`, Secret: NewSecret("hq-pass"), CreatedAt: created}); err != nil {
		t.Fatal(err)
	}
	before := time.Now().UTC().Truncate(time.Second)
	mustSet(t, k, "default", "svc-rmm@contoso.com", "default-pass")
	mustSet(t, k, "dc-admins", `CONTOSO\dc`, "dc-pass")
	after := time.Now().UTC()

	tests := []struct {
		name, user, secret string
		createdOK          func(time.Time) bool
	}{
		{"site:hq", `CONTOSO\svc-rmm`, "hq-pass", func(c time.Time) bool { return c.Equal(created) }},
		{"default", "svc-rmm@contoso.com", "default-pass", func(c time.Time) bool { return !c.Before(before) && !c.After(after) }},
		{"dc-admins", `CONTOSO\dc`, "dc-pass", func(c time.Time) bool { return !c.Before(before) && !c.After(after) }},
	}
	for _, tt := range tests {
		c, err := k.Get(ctx, tt.name)
		if err != nil {
			t.Fatalf("get %q: %v", tt.name, err)
		}
		if c.Name != tt.name || c.User != tt.user || c.Backend != BackendKeyring || c.Secret.Reveal() != tt.secret {
			t.Errorf("get %q returned the wrong name, user, backend or secret", tt.name)
		}
		if !tt.createdOK(c.CreatedAt) {
			t.Errorf("get %q: CreatedAt %s not kept", tt.name, c.CreatedAt)
		}
	}

	metas, err := k.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(metas); !slices.Equal(got, []string{"dc-admins", "default", "site:hq"}) {
		t.Errorf("List = %v, want sorted names", got)
	}
	if metas[2].User != `CONTOSO\svc-rmm` || !metas[2].CreatedAt.Equal(created) || metas[2].Backend != BackendKeyring {
		t.Errorf("List meta of site:hq = %+v", metas[2])
	}

	// The index is a keyring item of its own, holding only names.
	raw, err := keyring.Get(testService, indexItem)
	if err != nil {
		t.Fatalf("no index item: %v", err)
	}
	var idx keyringIndex
	if err := json.Unmarshal([]byte(raw), &idx); err != nil || !slices.Equal(idx.Names, []string{"dc-admins", "default", "site:hq"}) {
		t.Errorf("index item = %s (%v)", raw, err)
	}
	if strings.Contains(raw, "pass") {
		t.Error("the index item holds a secret")
	}

	if err := k.Delete(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Get(ctx, "default"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get after delete: %v, want ErrNotFound", err)
	}
	if err := k.Delete(ctx, "default"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	metas, _ = k.List(ctx)
	if got := names(metas); !slices.Equal(got, []string{"dc-admins", "site:hq"}) {
		t.Errorf("List after delete = %v", got)
	}
}

func TestKeyringReplaceKeepsOneEntryAndRenewsCreatedAt(t *testing.T) {
	ctx := context.Background()
	k := newMockKeyring(t)
	old := time.Now().Add(-200 * 24 * time.Hour).UTC().Truncate(time.Second)
	if err := k.Set(ctx, Credential{Name: "default", User: "svc", Secret: NewSecret("old"), CreatedAt: old}); err != nil {
		t.Fatal(err)
	}
	mustSet(t, k, "default", "svc2", "new")
	c, err := k.Get(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	if c.User != "svc2" || c.Secret.Reveal() != "new" {
		t.Error("the replacement did not take")
	}
	if !c.CreatedAt.After(old) {
		t.Errorf("replacing the secret kept the old CreatedAt %s: rotation reminders would be wrong", c.CreatedAt)
	}
	metas, _ := k.List(ctx)
	if got := names(metas); !slices.Equal(got, []string{"default"}) {
		t.Errorf("List after replace = %v, want one entry", got)
	}
}

func TestKeyringNotFoundAndStaleIndex(t *testing.T) {
	ctx := context.Background()
	k := newMockKeyring(t)
	if _, err := k.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("get of a missing credential: %v, want ErrNotFound naming it", err)
	}
	if err := k.Delete(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete of a missing credential: %v, want ErrNotFound", err)
	}
	mustSet(t, k, "a", "u", "p")
	mustSet(t, k, "b", "u", "p")
	// Someone removes an item with another tool: List skips it, Delete
	// heals the index.
	if err := keyring.Delete(testService, "a"); err != nil {
		t.Fatal(err)
	}
	metas, err := k.List(ctx)
	if err != nil || !slices.Equal(names(metas), []string{"b"}) {
		t.Errorf("List with a stale index entry = %v, %v; want [b]", names(metas), err)
	}
	if err := k.Delete(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete of an item removed elsewhere: %v, want ErrNotFound", err)
	}
	raw, _ := keyring.Get(testService, indexItem)
	if strings.Contains(raw, `"a"`) {
		t.Errorf("the stale name is still in the index: %s", raw)
	}
}

func TestKeyringFailuresAreReportedWithTheStep(t *testing.T) {
	ctx := context.Background()
	k := newMockKeyring(t)
	keyring.MockInitWithError(errors.New("org.freedesktop.DBus.Error.ServiceUnknown"))
	defer keyring.MockInit()
	tests := []struct {
		name string
		do   func() error
		want string
	}{
		{"set", func() error { return k.Set(ctx, Credential{Name: "a", User: "u", Secret: NewSecret("p")}) }, `set "a" in keyring "rmm-test": write keyring item`},
		{"get", func() error { _, err := k.Get(ctx, "a"); return err }, `get "a" from keyring "rmm-test": read keyring item`},
		{"list", func() error { _, err := k.List(ctx); return err }, `list keyring "rmm-test": read keyring index`},
		{"delete", func() error { return k.Delete(ctx, "a") }, `delete "a" from keyring "rmm-test": delete keyring item`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "ServiceUnknown") {
				t.Fatalf("%s: %v, want %q and the cause", tt.name, err, tt.want)
			}
			if errors.Is(err, ErrNotFound) {
				t.Error("a keyring failure reads as not found")
			}
		})
	}
	keyring.MockInitWithError(keyring.ErrSetDataTooBig)
	if err := k.Set(ctx, Credential{Name: "a", User: "u", Secret: NewSecret("p")}); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("an oversized item: %v", err)
	}
}

func TestKeyringRefusesInvalidInputBeforeTouchingTheKeyring(t *testing.T) {
	ctx := context.Background()
	k := newMockKeyring(t)
	tests := []struct {
		name string
		c    Credential
	}{
		{"an empty name", Credential{User: "u", Secret: NewSecret("p")}},
		{"the reserved index name", Credential{Name: indexItem, User: "u", Secret: NewSecret("p")}},
		{"a name with a newline", Credential{Name: "a\nb", User: "u", Secret: NewSecret("p")}},
		{"a name with non-ASCII", Credential{Name: "caf\u00e9", User: "u", Secret: NewSecret("p")}},
		{"an empty user", Credential{Name: "a", Secret: NewSecret("p")}},
		{"an empty password", Credential{Name: "a", User: "u"}},
		{"a wiped password", func() Credential { s := NewSecret("p"); s.Wipe(); return Credential{Name: "a", User: "u", Secret: s} }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := k.Set(ctx, tt.c); err == nil {
				t.Fatal("accepted")
			}
			if _, err := keyring.Get(testService, indexItem); !errors.Is(err, keyring.ErrNotFound) {
				t.Error("the keyring was written")
			}
		})
	}
}

func TestKeyringHonoursItsContext(t *testing.T) {
	k := newMockKeyring(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := k.Set(ctx, Credential{Name: "a", User: "u", Secret: NewSecret("p")}); !errors.Is(err, context.Canceled) {
		t.Errorf("set with a canceled context: %v", err)
	}
	if _, err := k.Get(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("get with a canceled context: %v", err)
	}
	_ = k.Close()
	if _, err := k.Get(context.Background(), "a"); !errors.Is(err, ErrClosed) {
		t.Errorf("get after close: %v, want ErrClosed", err)
	}
}

func TestAKeyringCallAbandonedByItsContextNeverLandsLater(t *testing.T) {
	k := newMockKeyring(t).(*keyringStore)
	k.busy <- struct{}{} // a keyring call in flight that does not answer
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := k.Set(ctx, Credential{Name: "late", User: "u", Secret: NewSecret("p")})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not answer") {
		t.Fatalf("set against a busy keyring: %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("set waited %s past its deadline", d)
	}
	<-k.busy
	// The abandoned call never started: nothing can land later.
	if _, err := k.Get(context.Background(), "late"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the abandoned set was written after all: %v", err)
	}
}

// Code review B1: every caller of a hung keyring left a goroutine blocked
// on the store's mutex for the life of the process (a sweep of 50
// parallel polls: 50 more per cache expiry). Callers now wait for their
// turn under their own context and start no goroutine when it ends.
func TestAHungKeyringHoldsOneGoroutineWhateverTheCallersThatGiveUp(t *testing.T) {
	k := newMockKeyring(t).(*keyringStore)
	hung := make(chan struct{})
	started := make(chan struct{})
	go func() {
		_ = k.run(context.Background(), false, nil, func() error { close(started); <-hung; return nil })
	}()
	<-started
	before := runtime.NumGoroutine()
	const callers = 64
	errs := make(chan error, callers)
	for range callers {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			_, err := k.Get(ctx, "default")
			errs <- err
		}()
	}
	for range callers {
		if err := <-errs; !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not answer") {
			t.Fatalf("get from a hung keyring: %v, want a deadline error", err)
		}
	}
	// The callers' goroutines have ended; none is left behind in the store.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left behind by %d callers of a hung keyring", runtime.NumGoroutine()-before, callers)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(hung)
	if _, err := k.Get(context.Background(), "default"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get once the keyring answers again: %v, want not found", err)
	}
}
