package engine

// Collections: named, saved, dynamic groups of devices, each a filter
// expression in the console's grammar (engine/filter) with inventory
// terms ("software:zoom software.version<5.17", "bitlocker:off",
// "missing:KB5034441"). They are stored in the database (rmm collections
// add, the console's :collection save) or defined in the config file
// (collections:); a name defined in the config is the config's, and the
// database's of the same name is hidden until the config drops it.
//
// Members are kept current, not scanned for: every change the engine
// makes to a device's state (a poll, a new inventory, an import) is
// matched against each collection for that device only, and a new or
// edited collection is evaluated once over the device list. A collection
// is a target for actions and ad-hoc commands (RunTarget.Collection).

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/rmmhq/rmm/engine/filter"
	"github.com/rmmhq/rmm/store"
)

// Collection sources.
const (
	SourceDB     = "db"
	SourceConfig = "config"
)

// MaxCollectionName bounds a collection's name.
const MaxCollectionName = 64

// ErrNoCollection is wrapped when a request names a collection that does
// not exist.
var ErrNoCollection = errors.New("no such collection")

// Collection is one saved collection with its member count. Its JSON form
// is the stable output of rmm collections list --json.
type Collection struct {
	Name        string    `json:"name"`
	Expr        string    `json:"expr"`
	Description string    `json:"description,omitempty"`
	Source      string    `json:"source"` // db or config
	CreatedBy   string    `json:"created_by,omitempty"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
	Members     int       `json:"members"`
	Inventory   bool      `json:"inventory"`       // it reads inventory facts
	Pending     bool      `json:"pending"`         // the inventory index is still loading: Members may be short
	Error       string    `json:"error,omitempty"` // the expression does not parse (it then has no members)
}

// collectionBook holds the collections and their members.
type collectionBook struct {
	mu     sync.RWMutex
	loaded bool // the database's were read
	db     []store.Collection
	config map[string]string
	live   []*liveCollection // the effective ones, by name
	count  atomic.Int32      // len(live), read without the lock by observe
}

type liveCollection struct {
	Collection
	flt     filter.DeviceFilter
	members map[int64]struct{}
}

func newCollectionBook() *collectionBook { return &collectionBook{} }

// CheckCollectionName reports why name cannot name a collection: 1 to 64
// printable characters, not starting or ending with a space or starting
// with '-'.
func CheckCollectionName(name string) error {
	switch {
	case name == "":
		return errors.New("a collection needs a name")
	case len(name) > MaxCollectionName:
		return fmt.Errorf("collection name of %d bytes; at most %d", len(name), MaxCollectionName)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("collection name %q starts or ends with a space", name)
	case strings.HasPrefix(name, "-"):
		return fmt.Errorf("collection name %q starts with '-'", name)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("collection name %q holds a control character", name)
		}
	}
	return nil
}

// CheckCollections validates collections as the config file defines
// them (name -> expression); the error names the bad one.
func CheckCollections(defs map[string]string) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(defs)) {
		if err := CheckCollectionName(name); err != nil {
			errs = append(errs, fmt.Errorf("collections.%s: %w", name, err))
			continue
		}
		if strings.TrimSpace(defs[name]) == "" {
			errs = append(errs, fmt.Errorf("collections.%s: the expression is empty", name))
			continue
		}
		if _, err := filter.Parse(defs[name]); err != nil {
			errs = append(errs, fmt.Errorf("collections.%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// SetConfigCollections sets the collections the config file defines
// (name -> expression); they replace the previous config's. Call it at
// start and after a config reload; validate with CheckCollections first
// (a bad one is kept, with its Error, and has no members).
func (e *Engine) SetConfigCollections(defs map[string]string) {
	b := e.colls
	b.mu.Lock()
	b.config = maps.Clone(defs)
	loaded := b.loaded
	b.mu.Unlock()
	if loaded {
		b.rebuild(e)
	}
}

// ensureCollections reads the database's collections once.
func (e *Engine) ensureCollections(ctx context.Context) error {
	b := e.colls
	b.mu.RLock()
	loaded := b.loaded
	b.mu.RUnlock()
	if loaded {
		return nil
	}
	cs, err := e.db.ListCollections(ctx)
	if err != nil {
		return err
	}
	b.mu.Lock()
	if !b.loaded {
		b.db, b.loaded = cs, true
	}
	b.mu.Unlock()
	b.rebuild(e)
	return nil
}

// rebuild makes the effective list from the database's and the config's
// collections and evaluates each over the device list.
func (b *collectionBook) rebuild(e *Engine) {
	b.mu.Lock()
	defer b.mu.Unlock()
	byName := map[string]*liveCollection{}
	for _, c := range b.db {
		byName[strings.ToLower(c.Name)] = &liveCollection{Collection: Collection{Name: c.Name, Expr: c.Expr, Description: c.Description,
			Source: SourceDB, CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}}
	}
	for name, expr := range b.config {
		byName[strings.ToLower(name)] = &liveCollection{Collection: Collection{Name: name, Expr: expr, Source: SourceConfig}}
	}
	live := slices.Collect(maps.Values(byName))
	slices.SortFunc(live, func(a, b *liveCollection) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), cmp.Compare(a.Name, b.Name))
	})
	devs := e.Devices()
	for _, c := range live {
		c.compile()
		c.evaluate(devs)
	}
	b.live = live
	b.count.Store(int32(len(live)))
}

func (c *liveCollection) compile() {
	f, err := filter.Parse(c.Expr)
	c.flt, c.Inventory, c.Error = f, f.NeedsFacts(), ""
	if err != nil {
		c.Error = err.Error()
	}
}

func (c *liveCollection) evaluate(devs []DeviceState) {
	c.members = make(map[int64]struct{})
	for i := range devs {
		r := devs[i].FilterRow()
		if c.flt.Match(&r) {
			c.members[devs[i].ID] = struct{}{}
		}
	}
}

// recompute evaluates every collection again (the inventory index
// loaded).
func (b *collectionBook) recompute(e *Engine) {
	if b.count.Load() == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	devs := e.Devices()
	for _, c := range b.live {
		c.evaluate(devs)
	}
}

// observe matches devices whose state changed against every collection.
// It reads their current state under the book's lock, so of two changes
// of one device observed at once the later state is the one that stays;
// a device the engine no longer has leaves every collection.
func (b *collectionBook) observe(e *Engine, ids ...int64) {
	if b.count.Load() == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, id := range ids {
		st, ok := e.deviceState(id)
		r := st.FilterRow()
		for _, c := range b.live {
			if ok && c.flt.Match(&r) {
				c.members[id] = struct{}{}
			} else {
				delete(c.members, id)
			}
		}
	}
}

// collections lists the effective collections with their counts.
func (e *Engine) collections(ctx context.Context) ([]Collection, error) {
	if err := e.ensureCollections(ctx); err != nil {
		return nil, err
	}
	b := e.colls
	b.mu.RLock()
	needFacts := false
	for _, c := range b.live {
		needFacts = needFacts || c.Inventory
	}
	b.mu.RUnlock()
	if needFacts {
		if err := e.LoadFacts(ctx); err != nil {
			e.log.Warn("collections: inventory index not loaded", "err", err)
		}
	}
	loaded := e.FactsLoaded()
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]Collection, len(b.live))
	for i, c := range b.live {
		out[i] = c.Collection
		out[i].Members = len(c.members)
		out[i].Pending = c.Inventory && !loaded
	}
	return out, nil
}

// findCollection returns the effective collection called name (any case).
func (b *collectionBook) find(name string) *liveCollection {
	for _, c := range b.live {
		if strings.EqualFold(c.Name, strings.TrimSpace(name)) {
			return c
		}
	}
	return nil
}

// collectionMembers returns a collection and its members by hostname.
func (e *Engine) collectionMembers(ctx context.Context, name string) (Collection, []DeviceState, error) {
	cs, err := e.collections(ctx)
	if err != nil {
		return Collection{}, nil, err
	}
	b := e.colls
	b.mu.RLock()
	c := b.find(name)
	var ids map[int64]struct{}
	var info Collection
	if c != nil {
		ids = maps.Clone(c.members)
		info = c.Collection
		info.Members = len(ids)
	}
	b.mu.RUnlock()
	if c == nil {
		names := make([]string, len(cs))
		for i, c := range cs {
			names[i] = c.Name
		}
		known := "there are none yet: rmm collections add NAME EXPR"
		if len(names) > 0 {
			known = "collections: " + strings.Join(names, ", ")
		}
		return Collection{}, nil, fmt.Errorf("collection %q: %w (%s)", name, ErrNoCollection, known)
	}
	info.Pending = info.Inventory && !e.FactsLoaded()
	if info.Error != "" {
		return info, nil, fmt.Errorf("collection %q: %s", info.Name, info.Error)
	}
	var out []DeviceState
	for _, d := range e.Devices() {
		if _, ok := ids[d.ID]; ok {
			out = append(out, d)
		}
	}
	return info, out, nil
}

// saveCollection stores a collection and evaluates it.
func (e *Engine) saveCollection(ctx context.Context, id Identity, r SaveCollection) (Collection, error) {
	name := r.Name
	if err := CheckCollectionName(name); err != nil {
		return Collection{}, err
	}
	expr := strings.TrimSpace(r.Expr)
	if expr == "" {
		return Collection{}, fmt.Errorf("collection %q: the expression is empty (it would hold every device)", name)
	}
	f, err := filter.Parse(expr)
	if err != nil {
		return Collection{}, fmt.Errorf("collection %q: %w", name, err)
	}
	if _, _, ok := f.Sort(); ok {
		return Collection{}, fmt.Errorf("collection %q: a sort: term selects nothing; leave it out", name)
	}
	if err := e.ensureCollections(ctx); err != nil {
		return Collection{}, err
	}
	b := e.colls
	b.mu.RLock()
	for cname := range b.config {
		if strings.EqualFold(cname, name) {
			b.mu.RUnlock()
			return Collection{}, fmt.Errorf("collection %q is defined in the config file (collections:); change it there", cname)
		}
	}
	b.mu.RUnlock()
	now := time.Now().UTC()
	c := store.Collection{Name: name, Expr: expr, Description: strings.TrimSpace(r.Description), CreatedBy: id.User, UpdatedAt: now}
	if err := e.db.SaveCollection(context.WithoutCancel(ctx), c, r.Replace); err != nil {
		if errors.Is(err, store.ErrExists) {
			return Collection{}, fmt.Errorf("collection %q exists; replace it with --replace (rmm collections add) or remove it first", name)
		}
		return Collection{}, err
	}
	if err := e.reloadCollections(ctx); err != nil {
		return Collection{}, err
	}
	if f.NeedsFacts() {
		if err := e.LoadFacts(ctx); err != nil {
			e.log.Warn("collections: inventory index not loaded", "err", err)
		}
	}
	info, _, err := e.collectionMembers(ctx, name)
	if err != nil {
		return Collection{}, err
	}
	e.log.Info("collection saved", "collection", name, "expr", expr, "members", info.Members, "user", id.User)
	return info, nil
}

// removeCollection deletes a stored collection.
func (e *Engine) removeCollection(ctx context.Context, id Identity, name string) error {
	name = strings.TrimSpace(name)
	if err := e.ensureCollections(ctx); err != nil {
		return err
	}
	b := e.colls
	b.mu.RLock()
	for cname := range b.config {
		if strings.EqualFold(cname, name) {
			b.mu.RUnlock()
			return fmt.Errorf("collection %q is defined in the config file (collections:); remove it there", cname)
		}
	}
	b.mu.RUnlock()
	if err := e.db.DeleteCollection(context.WithoutCancel(ctx), name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("collection %q: %w", name, ErrNoCollection)
		}
		return err
	}
	e.log.Info("collection removed", "collection", name, "user", id.User)
	return e.reloadCollections(ctx)
}

// reloadCollections reads the database's collections again.
func (e *Engine) reloadCollections(ctx context.Context) error {
	cs, err := e.db.ListCollections(ctx)
	if err != nil {
		return err
	}
	b := e.colls
	b.mu.Lock()
	b.db, b.loaded = cs, true
	b.mu.Unlock()
	b.rebuild(e)
	return nil
}

// ListCollections lists the collections with their member counts; exec
// returns []Collection.
type ListCollections struct{}

// Action implements Request.
func (ListCollections) Action() string { return "collections.list" }

// Permission implements Request.
func (ListCollections) Permission() Permission { return PermFleetView }

// Mutating implements Request.
func (ListCollections) Mutating() bool { return false }

// Targets implements Request.
func (ListCollections) Targets() []string { return nil }

// Details implements Request.
func (ListCollections) Details() map[string]any { return map[string]any{} }

func (ListCollections) run(ctx context.Context, e *Engine, _ Identity) ([]Collection, error) {
	return e.collections(ctx)
}

// CollectionMembers is a collection with its devices, by hostname.
type CollectionMembers struct {
	Collection
	Devices []DeviceState `json:"-"`
}

// GetCollection reads one collection and its members; exec returns
// CollectionMembers. The error wraps ErrNoCollection when there is none.
type GetCollection struct{ Name string }

// Action implements Request.
func (GetCollection) Action() string { return "collections.get" }

// Permission implements Request.
func (GetCollection) Permission() Permission { return PermFleetView }

// Mutating implements Request.
func (GetCollection) Mutating() bool { return false }

// Targets implements Request.
func (r GetCollection) Targets() []string { return []string{r.Name} }

// Details implements Request.
func (r GetCollection) Details() map[string]any { return map[string]any{"name": r.Name} }

func (r GetCollection) run(ctx context.Context, e *Engine, _ Identity) (CollectionMembers, error) {
	c, devs, err := e.collectionMembers(ctx, r.Name)
	return CollectionMembers{Collection: c, Devices: devs}, err
}

// SaveCollection stores a collection: a name and a filter expression
// (see engine/filter), with an optional description. A name taken in the
// database is refused unless Replace; one the config file defines is
// always refused. exec returns the Collection with its member count.
type SaveCollection struct {
	Name        string
	Expr        string
	Description string
	Replace     bool
}

// Action implements Request.
func (SaveCollection) Action() string { return "collections.save" }

// Permission implements Request.
func (SaveCollection) Permission() Permission { return PermCollectionsEdit }

// Mutating implements Request.
func (SaveCollection) Mutating() bool { return true }

// Targets implements Request.
func (r SaveCollection) Targets() []string { return []string{r.Name} }

// Details implements Request.
func (r SaveCollection) Details() map[string]any {
	return map[string]any{"name": r.Name, "expr": r.Expr, "description": r.Description, "replace": r.Replace}
}

func (r SaveCollection) run(ctx context.Context, e *Engine, id Identity) (Collection, error) {
	return e.saveCollection(ctx, id, r)
}

// RemoveCollection deletes a collection stored in the database.
type RemoveCollection struct{ Name string }

// Action implements Request.
func (RemoveCollection) Action() string { return "collections.remove" }

// Permission implements Request.
func (RemoveCollection) Permission() Permission { return PermCollectionsEdit }

// Mutating implements Request.
func (RemoveCollection) Mutating() bool { return true }

// Targets implements Request.
func (r RemoveCollection) Targets() []string { return []string{r.Name} }

// Details implements Request.
func (r RemoveCollection) Details() map[string]any { return map[string]any{"name": r.Name} }

func (r RemoveCollection) run(ctx context.Context, e *Engine, id Identity) (None, error) {
	return None{}, e.removeCollection(ctx, id, r.Name)
}
