package engine

// Inventory: the four collectors (engine/scripts/inventory_*.ps1) run per
// device and category through the session pool, like the metrics script.
// Each result is parsed (5.1 quirks handled), normalised and stored as one
// JSON document per (device, category) with its collection time. A stored
// document younger than InventoryTTL is served without asking the host;
// Force collects anyway. What the alert rules need (pending reboot,
// Defender signatures, watched services, firewall, last update) goes to
// the alert book through ObserveFacts.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sourcegraph/conc/pool"

	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// Inventory categories, as the collectors (engine/scripts) name them.
const (
	InventoryHardware = scripts.InventoryHardware
	InventorySoftware = scripts.InventorySoftware
	InventorySecurity = scripts.InventorySecurity
	InventoryNetwork  = scripts.InventoryNetwork
)

// InventoryCategories lists the categories in the order they are shown.
func InventoryCategories() []string { return scripts.InventoryCategories() }

// ErrUnknownDevice is wrapped when a request names a device the engine
// does not have.
var ErrUnknownDevice = errors.New("no such device")

// InventoryTTL is how long a stored inventory document is served without
// collecting it again.
const InventoryTTL = 24 * time.Hour

// inventoryTimeoutFactor: a collector reads far more than the metrics
// script (software walks the registry and every service), so it gets this
// many WinRM timeouts.
const inventoryTimeoutFactor = 4

// inventoryState is the engine's inventory bookkeeping. The zero value is
// ready to use.
type inventoryState struct {
	mu       sync.Mutex
	scripts  map[string]*winrm.Script // collectors by category, metrics variants by watched list
	polls    map[int64]*pollMemo      // per device: what the last polls left for the next (inventory_metrics.go)
	inflight map[invKey]*invCall      // collections running: a second caller waits for the first
	restored bool                     // restoreFactsOnce ran
}

type invKey struct {
	id       int64
	category string
}

// invCall is one collection in flight; done is closed when doc and err
// are set.
type invCall struct {
	done chan struct{}
	doc  InventoryDoc
	err  error
}

// InventoryDoc is one category of one device's inventory, as stored. Its
// JSON form is the stable output of `rmm inventory --json`.
type InventoryDoc struct {
	DeviceID    int64           `json:"device_id"`
	Hostname    string          `json:"hostname"`
	Category    string          `json:"category"`
	CollectedAt time.Time       `json:"collected_at"`   // zero when never collected
	Cached      bool            `json:"cached"`         // served from the store, not collected by this call
	Data        json.RawMessage `json:"data,omitempty"` // the document; absent when never collected
	Error       string          `json:"error,omitempty"`
}

// Collected reports whether the document holds data.
func (d InventoryDoc) Collected() bool { return len(d.Data) > 0 }

// checkCategories validates categories; none means all.
func checkCategories(cats []string) ([]string, error) {
	if len(cats) == 0 {
		return InventoryCategories(), nil
	}
	out := make([]string, 0, len(cats))
	for _, c := range cats {
		c = strings.ToLower(strings.TrimSpace(c))
		if !slices.Contains(InventoryCategories(), c) && c != InventoryPatches {
			return nil, fmt.Errorf("inventory: unknown category %q (valid: %s, %s)", c, strings.Join(InventoryCategories(), ", "), InventoryPatches)
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// script returns the psScript of an embedded script by name, built once.
func (s *inventoryState) script(name string) (*winrm.Script, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc, ok := s.scripts[name]; ok {
		return sc, nil
	}
	sc, err := scripts.Get(name)
	if err != nil {
		return nil, err
	}
	if s.scripts == nil {
		s.scripts = map[string]*winrm.Script{}
	}
	ps := winrm.NewScript(sc.Name, sc.Body)
	s.scripts[name] = ps
	return ps, nil
}

// StoredInventory returns the stored documents of a device (all
// categories when none are named), without asking the host. A category
// never collected comes back with no Data.
func (e *Engine) StoredInventory(ctx context.Context, id int64, categories []string) ([]InventoryDoc, error) {
	cats, err := checkCategories(categories)
	if err != nil {
		return nil, err
	}
	d, ok := e.device(id)
	if !ok {
		return nil, fmt.Errorf("inventory of device %d: not found", id)
	}
	out := make([]InventoryDoc, 0, len(cats))
	for _, c := range cats {
		doc, err := e.storedDoc(ctx, d, c)
		if err != nil {
			return nil, err
		}
		out = append(out, doc)
	}
	return out, nil
}

func (e *Engine) storedDoc(ctx context.Context, d store.Device, category string) (InventoryDoc, error) {
	doc := InventoryDoc{DeviceID: d.ID, Hostname: d.Hostname, Category: category, Cached: true}
	inv, err := e.db.GetInventory(ctx, d.ID, category)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return doc, nil
	case err != nil:
		return doc, err
	}
	doc.Data, doc.CollectedAt = inv.Data, inv.CollectedAt
	return doc, nil
}

// CollectInventory returns a device's inventory for the categories (all
// when none are named): a stored document younger than InventoryTTL as it
// is (Cached), else, or with force, collected from the host now. A
// category that fails carries its Error (and the stored document, if
// any); the call fails only when the device is unknown or every category
// failed.
func (e *Engine) CollectInventory(ctx context.Context, id int64, categories []string, force bool) ([]InventoryDoc, error) {
	if err := e.Fatal(); err != nil {
		return nil, err
	}
	cats, err := checkCategories(categories)
	if err != nil {
		return nil, err
	}
	d, ok := e.device(id)
	if !ok {
		return nil, fmt.Errorf("inventory of device %d: not found", id)
	}
	out := make([]InventoryDoc, len(cats))
	var failed []error
	for i, c := range cats {
		out[i], err = e.collectOne(ctx, d, c, force)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("inventory of %s: %w", d.Hostname, context.Cause(ctx))
			}
			out[i].Error = err.Error()
			failed = append(failed, err)
		}
	}
	if len(failed) == len(cats) {
		return out, fmt.Errorf("inventory of %s: %w", d.Hostname, errors.Join(failed...))
	}
	return out, nil
}

// collectOne serves or collects one category; concurrent callers for the
// same device and category share one collection.
func (e *Engine) collectOne(ctx context.Context, d store.Device, category string, force bool) (InventoryDoc, error) {
	stored, err := e.storedDoc(ctx, d, category)
	if err != nil {
		return stored, err
	}
	if !force && stored.Collected() && time.Since(stored.CollectedAt) < InventoryTTL {
		return stored, nil
	}
	k := invKey{d.ID, category}
	s := &e.inv
	s.mu.Lock()
	if c, ok := s.inflight[k]; ok {
		s.mu.Unlock()
		select {
		case <-c.done:
			return c.doc, c.err
		case <-ctx.Done():
			return stored, context.Cause(ctx)
		}
	}
	c := &invCall{done: make(chan struct{})}
	if s.inflight == nil {
		s.inflight = map[invKey]*invCall{}
	}
	s.inflight[k] = c
	s.mu.Unlock()

	func() {
		defer func() {
			if r := recover(); r != nil {
				c.doc, c.err = InventoryDoc{}, e.panicked(d.Hostname, "inventory_"+category, r)
			}
		}()
		c.doc, c.err = e.collectFromHost(ctx, d, category)
	}()
	if c.err != nil {
		// Keep what is stored, say why it is not fresh.
		c.doc = stored
	}
	s.mu.Lock()
	delete(s.inflight, k)
	s.mu.Unlock()
	close(c.done)
	return c.doc, c.err
}

// collectFromHost runs one collector on d, stores its document and feeds
// the facts it holds to the alert rules.
func (e *Engine) collectFromHost(ctx context.Context, d store.Device, category string) (InventoryDoc, error) {
	if err := e.refuseWrongHost(d, "inventory_"+category); err != nil {
		return InventoryDoc{}, err
	}
	name := "inventory_" + category
	if category == InventoryPatches {
		name = "patch_scan"
	}
	sc, err := e.inv.script(name)
	if err != nil {
		return InventoryDoc{}, fmt.Errorf("inventory %s: %w", category, err)
	}
	o := e.options()
	timeout := inventoryTimeoutFactor * o.Timeout
	if category == InventoryPatches {
		timeout = e.patchOptions().ScanTimeout // a Windows Update search takes minutes
	}
	res, err := e.runScript(ctx, o, d, sc, timeout, "run inventory_"+category)
	if err != nil {
		return InventoryDoc{}, err
	}
	at := time.Now().UTC().Truncate(time.Millisecond) // as stored
	v, norm, err := scripts.ParseInventory(category, res.Stdout)
	if err != nil {
		return InventoryDoc{}, &winrm.Error{Class: winrm.ClassDevice, Device: d.Hostname, Step: "parse inventory_" + category, Err: err}
	}
	wctx := context.WithoutCancel(ctx) // a finished collection is kept even on quit
	if scan, ok := v.(*scripts.PatchScan); ok {
		if err := e.storePatchScan(wctx, d, scan, at); err != nil {
			return InventoryDoc{}, err
		}
		if !scan.OK {
			return InventoryDoc{}, scanError(d, scan)
		}
	}
	if err := e.db.PutInventory(wctx, store.Inventory{DeviceID: d.ID, Category: category, Data: norm, CollectedAt: at}); err != nil {
		return InventoryDoc{}, err
	}
	if err := e.indexInventory(wctx, d, v, at); err != nil {
		e.log.Warn("inventory not indexed", "device", d.Hostname, "category", category, "err", err)
	}
	if u, ok := factsOf(v, at); ok {
		f, err := e.mergedFacts(wctx, d, u, at)
		if err == nil && e.alerts != nil {
			err = e.saveFacts(wctx, d.ID, f, at)
		}
		if err != nil {
			e.log.Warn("inventory facts not applied", "device", d.Hostname, "category", category, "err", err)
		}
	}
	e.log.Debug("inventory collected", "device", d.Hostname, "category", category, "bytes", len(norm), "mode", res.Mode)
	return InventoryDoc{DeviceID: d.ID, Hostname: d.Hostname, Category: category, CollectedAt: at, Data: norm}, nil
}

// factUpdate is what one collection or poll learnt; only the set fields
// replace what the alert book holds.
type factUpdate struct {
	defender         bool // DefenderEnabled, RealTimeProtection, SignaturesUpdated known
	defenderEnabled  bool
	realTime         bool
	signatures       time.Time
	firewall         *bool
	pendingReboot    *bool
	pendingSince     time.Time
	lastUpdate       time.Time
	services         map[string]string
	servicesComplete bool // services is every service (software), not just the watched ones (a poll)
	// missingSecurity is what a patch scan found (patches.go).
	missingSecurity    *int
	missingSecurityKBs []string
}

// factsOf extracts the alert inputs from a parsed document.
func factsOf(v any, at time.Time) (factUpdate, bool) {
	var f factUpdate
	switch doc := v.(type) {
	case *scripts.SecurityInventory:
		if def := doc.Defender.Value; doc.Defender.Unavailable == "" && def != nil {
			f.defender, f.defenderEnabled, f.realTime = true, def.AntivirusEnabled, def.RealTimeProtection
			f.signatures = def.SignatureLastUpdated.Time
		}
		if doc.Firewall.Unavailable == "" && len(doc.Firewall.Value) > 0 {
			on := true
			for _, p := range doc.Firewall.Value {
				on = on && p.On()
			}
			f.firewall = &on
		}
		pending := doc.PendingReboot.Pending
		f.pendingReboot, f.pendingSince = &pending, doc.PendingReboot.Since.Time
		f.lastUpdate = doc.LastUpdateInstalled.Time
		return f, true
	case *scripts.SoftwareInventory:
		if doc.Services.Unavailable == "" {
			f.services = make(map[string]string, len(doc.Services.Value))
			for _, s := range doc.Services.Value {
				f.services[s.Name] = s.State
			}
			f.servicesComplete = true
		}
		if doc.Hotfixes.Unavailable == "" {
			for _, h := range doc.Hotfixes.Value {
				if h.InstalledOn.After(f.lastUpdate) {
					f.lastUpdate = h.InstalledOn.Time
				}
			}
		}
		return f, true
	}
	return f, false
}

// currentFacts returns the facts the alert book holds for a device.
func (b *alertBook) currentFacts(id int64) (HostFacts, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if w, ok := b.watches[id]; ok && w.facts != nil {
		return *w.facts, true
	}
	return HostFacts{}, false
}

// mergeFacts applies an update over the facts held for d and evaluates
// the result (see ObserveFacts).
func (e *Engine) mergeFacts(ctx context.Context, d store.Device, u factUpdate, at time.Time) error {
	_, err := e.mergedFacts(ctx, d, u, at)
	return err
}

// mergedFacts is mergeFacts returning the facts it evaluated.
func (e *Engine) mergedFacts(ctx context.Context, d store.Device, u factUpdate, at time.Time) (HostFacts, error) {
	if e.alerts == nil {
		return HostFacts{}, nil
	}
	f, _ := e.alerts.currentFacts(d.ID)
	f.CollectedAt = at
	if u.defender {
		en, rt := u.defenderEnabled, u.realTime
		f.DefenderEnabled, f.RealTimeProtection, f.SignaturesUpdated = &en, &rt, u.signatures
	}
	if u.firewall != nil {
		f.FirewallEnabled = u.firewall
	}
	if u.pendingReboot != nil {
		f.PendingReboot = u.pendingReboot
		switch {
		case !*u.pendingReboot:
			f.PendingRebootSince = time.Time{}
		case !u.pendingSince.IsZero():
			f.PendingRebootSince = u.pendingSince
		}
	}
	if u.lastUpdate.After(f.LastUpdateInstalled) {
		f.LastUpdateInstalled = u.lastUpdate
	}
	if u.missingSecurity != nil {
		f.MissingSecurityUpdates, f.MissingSecurityKBs = u.missingSecurity, u.missingSecurityKBs
	}
	if u.services != nil {
		if u.servicesComplete || f.Services == nil {
			f.Services = u.services
		} else {
			merged := make(map[string]string, len(f.Services)+len(u.services))
			for k, v := range f.Services {
				merged[k] = v
			}
			for k, v := range u.services {
				merged[k] = v
			}
			f.Services = merged
		}
	}
	return f, e.alerts.observeFacts(ctx, d, f, at)
}

// factsCategory is the inventory row holding a device's merged facts (a
// few hundred bytes), so a restart restores the health score's security
// and compliance inputs without reading the documents. It is not one of
// InventoryCategories.
const factsCategory = "facts"

// saveFacts stores a device's merged facts.
func (e *Engine) saveFacts(ctx context.Context, id int64, f HostFacts, at time.Time) error {
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("save facts: %w", err)
	}
	return e.db.PutInventory(ctx, store.Inventory{DeviceID: id, Category: factsCategory, Data: b, CollectedAt: at})
}

// restoreFactsOnce gives the alert book the stored facts of every device
// it has none of, the first time it is called (Health calls it): after a
// restart the security and compliance parts of the score hold before the
// next collection. A failure is logged and tried again next time.
func (e *Engine) restoreFactsOnce(ctx context.Context) {
	s := &e.inv
	s.mu.Lock()
	done := s.restored
	s.restored = true
	s.mu.Unlock()
	if done || e.alerts == nil {
		return
	}
	rows, err := e.db.InventoryOf(ctx, factsCategory)
	if err != nil {
		e.log.Warn("stored inventory facts not restored", "err", err)
		s.mu.Lock()
		s.restored = false
		s.mu.Unlock()
		return
	}
	for _, r := range rows {
		if _, ok := e.alerts.currentFacts(r.DeviceID); ok {
			continue
		}
		d, ok := e.device(r.DeviceID)
		if !ok {
			continue
		}
		var f HostFacts
		if err := json.Unmarshal(r.Data, &f); err != nil {
			e.log.Warn("stored inventory facts unreadable", "device", d.Hostname, "err", err)
			continue
		}
		if err := e.alerts.observeFacts(ctx, d, f, time.Now().UTC()); err != nil {
			e.log.Warn("stored inventory facts not restored", "device", d.Hostname, "err", err)
		}
	}
}

// FleetInventoryResult summarises one fleet-wide collection.
type FleetInventoryResult struct {
	Categories []string       `json:"categories"`
	Devices    int            `json:"devices"`
	Collected  int            `json:"collected"` // devices whose every category was collected
	Fresh      int            `json:"fresh"`     // skipped: collected within MaxAge
	Offline    int            `json:"offline"`   // skipped: offline at the last poll
	Failed     int            `json:"failed"`    // at least one category failed
	Errors     map[string]int `json:"errors_by_class"`
	DurationMS int64          `json:"duration_ms"`
}

// inventoryThrottle is the fleet collection's parallelism: a quarter of
// the poll throttle (collectors are heavier than a poll), at least 1.
func inventoryThrottle(o Options) int { return max(o.Throttle/4, 1) }

// CollectFleetInventory collects the categories from every device that is
// not offline and whose documents are older than maxAge (0: collect all),
// a quarter of the throttle at a time, site by site.
func (e *Engine) CollectFleetInventory(ctx context.Context, categories []string, maxAge time.Duration) (FleetInventoryResult, error) {
	cats, err := checkCategories(categories)
	if err != nil {
		return FleetInventoryResult{}, err
	}
	start := time.Now()
	res := FleetInventoryResult{Categories: cats, Errors: map[string]int{}}
	ages := map[string]map[int64]time.Time{}
	for _, c := range cats {
		if ages[c], err = e.db.InventoryCollected(ctx, c); err != nil {
			return res, err
		}
	}
	states := e.Devices()
	slices.SortFunc(states, func(a, b DeviceState) int {
		return cmp.Or(cmp.Compare(a.Site, b.Site), cmp.Compare(a.Hostname, b.Hostname))
	})
	res.Devices = len(states)
	var mu sync.Mutex
	p := pool.New().WithMaxGoroutines(inventoryThrottle(e.options())).WithContext(ctx)
	for _, st := range states {
		if stopScheduling(ctx, e.fatalC) {
			break
		}
		if st.Status == StatusOffline {
			res.Offline++
			continue
		}
		due := cats[:0:0]
		for _, c := range cats {
			if at, ok := ages[c][st.ID]; maxAge <= 0 || !ok || time.Since(at) >= maxAge {
				due = append(due, c)
			}
		}
		if len(due) == 0 {
			res.Fresh++
			continue
		}
		p.Go(func(ctx context.Context) error {
			docs, err := e.CollectInventory(ctx, st.ID, due, true)
			if ctx.Err() != nil {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			bad := err != nil
			for _, d := range docs {
				bad = bad || d.Error != ""
			}
			if !bad {
				res.Collected++
				return nil
			}
			res.Failed++
			if err != nil {
				res.Errors[winrm.ClassOf(err).String()]++
			} else {
				res.Errors[winrm.ClassDevice.String()]++
			}
			return nil
		})
	}
	err = p.Wait()
	res.DurationMS = time.Since(start).Milliseconds()
	if err == nil {
		err = context.Cause(ctx)
	}
	if err != nil {
		return res, fmt.Errorf("fleet inventory: %w", err)
	}
	e.log.Info("fleet inventory done", "categories", strings.Join(cats, ","), "collected", res.Collected,
		"fresh", res.Fresh, "offline", res.Offline, "failed", res.Failed, "took", time.Since(start).Round(time.Millisecond))
	return res, nil
}
