package engine

// The inventory index: what the filter grammar reads of each device's
// inventory (applications and their versions, services and their states,
// hotfixes, the last boot, BitLocker, firewall, Defender, a pending
// reboot), extracted when a software or security inventory is stored and
// kept as a small document beside it (category "index"). The devices'
// Facts (engine/filter) are built from those documents once, by
// LoadFacts, and again for one device each time its inventory is
// collected; a filter never reads an inventory document.
//
// Patch facts: missing:/installed: read the hotfix list of the software
// inventory (Win32_QuickFixEngineering) today. A patch scan (issue 17)
// will feed the same terms from its own category when it exists.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rmmhq/rmm/engine/filter"
	"github.com/rmmhq/rmm/engine/psjson"
	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/store"
)

// indexCategory is the inventory row holding a device's indexed facts.
// It is not one of InventoryCategories.
const indexCategory = "index"

// factIndex is the engine's inventory index.
type factIndex struct {
	cat *filter.Catalog

	mu     sync.Mutex
	loaded bool
	call   *factLoad // a load in progress
}

type factLoad struct {
	done chan struct{}
	err  error
}

// storedFacts is the index document as stored: the lists as lines (an
// application "name<TAB>version"), which a restart decodes many times
// faster than arrays of pairs.
type storedFacts struct {
	SoftwareAt time.Time `json:"software_at,omitzero"`
	Apps       string    `json:"apps,omitempty"`
	Services   string    `json:"services,omitempty"`
	Hotfixes   string    `json:"hotfixes,omitempty"`
	LastBoot   time.Time `json:"last_boot,omitzero"`
	OS         string    `json:"os,omitempty"`
	SecurityAt time.Time `json:"security_at,omitzero"`
	BitLocker  string    `json:"bitlocker,omitempty"`
	Firewall   string    `json:"firewall,omitempty"`
	Defender   string    `json:"defender,omitempty"`
	Reboot     string    `json:"reboot,omitempty"`
}

// oneLineField keeps a name or version to one field of one line.
var oneLineField = strings.NewReplacer("\t", " ", "\r", " ", "\n", " ")

func joinPairs(ps [][2]string) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(oneLineField.Replace(p[0]))
		b.WriteByte('\t')
		b.WriteString(oneLineField.Replace(p[1]))
		b.WriteByte('\n')
	}
	return b.String()
}

func splitPairs(s string) [][2]string {
	if s == "" {
		return nil
	}
	out := make([][2]string, 0, strings.Count(s, "\n"))
	for line := range strings.SplitSeq(strings.TrimSuffix(s, "\n"), "\n") {
		a, b, _ := strings.Cut(line, "\t")
		out = append(out, [2]string{a, b})
	}
	return out
}

func encodeFacts(d filter.FactsDoc) ([]byte, error) {
	s := storedFacts{SoftwareAt: d.SoftwareAt, Apps: joinPairs(d.Apps), Services: joinPairs(d.Services),
		LastBoot: d.LastBoot, OS: d.OS, SecurityAt: d.SecurityAt, BitLocker: d.BitLocker, Firewall: d.Firewall,
		Defender: d.Defender, Reboot: d.Reboot}
	if len(d.Hotfixes) > 0 {
		s.Hotfixes = strings.Join(d.Hotfixes, "\n")
	}
	return json.Marshal(s)
}

func decodeFacts(b []byte) (filter.FactsDoc, error) {
	var s storedFacts
	if !scanFacts(b, &s) {
		s = storedFacts{}
		if err := json.Unmarshal(b, &s); err != nil {
			return filter.FactsDoc{}, fmt.Errorf("inventory index: %w", err)
		}
	}
	d := filter.FactsDoc{SoftwareAt: s.SoftwareAt, Apps: splitPairs(s.Apps), Services: splitPairs(s.Services),
		LastBoot: s.LastBoot, OS: s.OS, SecurityAt: s.SecurityAt, BitLocker: s.BitLocker, Firewall: s.Firewall,
		Defender: s.Defender, Reboot: s.Reboot}
	if s.Hotfixes != "" {
		d.Hotfixes = strings.Split(s.Hotfixes, "\n")
	}
	return d, nil
}

// scanFacts reads a stored index document without reflection (a restart
// reads one per device); false leaves it to encoding/json.
func scanFacts(b []byte, s *storedFacts) bool {
	sc := psjson.NewScanner(b)
	var soft, sec, boot psjson.PSDate
	ok := sc.Object(func(key []byte) bool {
		switch string(key) {
		case "software_at":
			return sc.Date(&soft)
		case "apps":
			return sc.String(&s.Apps)
		case "services":
			return sc.String(&s.Services)
		case "hotfixes":
			return sc.String(&s.Hotfixes)
		case "last_boot":
			return sc.Date(&boot)
		case "os":
			return sc.String(&s.OS)
		case "security_at":
			return sc.Date(&sec)
		case "bitlocker":
			return sc.String(&s.BitLocker)
		case "firewall":
			return sc.String(&s.Firewall)
		case "defender":
			return sc.String(&s.Defender)
		case "reboot":
			return sc.String(&s.Reboot)
		}
		return sc.Other(key, "software_at", "apps", "services", "hotfixes", "last_boot", "os", "security_at",
			"bitlocker", "firewall", "defender", "reboot")
	}) && sc.End()
	s.SoftwareAt, s.SecurityAt, s.LastBoot = soft.Time, sec.Time, boot.Time
	return ok
}

// factsPart merges what a parsed inventory document says into base: the
// software part from a software inventory, the security part from a
// security one. ok is false for the other categories.
func factsPart(v any, at time.Time, base filter.FactsDoc) (filter.FactsDoc, bool) {
	switch doc := v.(type) {
	case *scripts.SoftwareInventory:
		d := base
		d.SoftwareAt, d.Apps, d.Services, d.Hotfixes = at, nil, nil, nil
		d.LastBoot, d.OS = doc.OS.LastBoot.Time, doc.OS.Name
		for _, a := range doc.Applications.Value {
			if name := strings.TrimSpace(string(a.Name)); name != "" {
				d.Apps = append(d.Apps, [2]string{name, strings.TrimSpace(string(a.Version))})
			}
		}
		for _, s := range doc.Services.Value {
			d.Services = append(d.Services, [2]string{s.Name, s.State})
		}
		for _, h := range doc.Hotfixes.Value {
			if id := filter.NormalizeKB(h.ID); id != "" {
				d.Hotfixes = append(d.Hotfixes, id)
			}
		}
		return d, true
	case *scripts.SecurityInventory:
		d := base
		d.SecurityAt = at
		d.BitLocker, d.Firewall, d.Defender = "", "", ""
		if doc.BitLocker.Unavailable == "" && len(doc.BitLocker.Value) > 0 {
			vol := doc.BitLocker.Value[0]
			for _, v := range doc.BitLocker.Value {
				if strings.EqualFold(strings.TrimSuffix(v.MountPoint, `\`), "C:") {
					vol = v
				}
			}
			switch vol.ProtectionStatus {
			case 1:
				d.BitLocker = "on"
			case 0:
				d.BitLocker = "off"
			}
		}
		if doc.Firewall.Unavailable == "" && len(doc.Firewall.Value) > 0 {
			d.Firewall = "on"
			for _, p := range doc.Firewall.Value {
				if !p.On() {
					d.Firewall = "off"
				}
			}
		}
		if def := doc.Defender.Value; doc.Defender.Unavailable == "" && def != nil {
			d.Defender = "off"
			if def.AntivirusEnabled && def.RealTimeProtection {
				d.Defender = "on"
			}
		}
		d.Reboot = filter.TriOf(doc.PendingReboot.Pending).String()
		return d, true
	}
	return base, false
}

// storedFactsDoc reads a device's index document; the zero doc when it
// has none.
func (e *Engine) storedFactsDoc(ctx context.Context, id int64) (filter.FactsDoc, error) {
	inv, err := e.db.GetInventory(ctx, id, indexCategory)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return filter.FactsDoc{}, nil
	case err != nil:
		return filter.FactsDoc{}, err
	}
	return decodeFacts(inv.Data)
}

// indexInventory updates a device's index from an inventory document it
// just stored: the index document first, then the device's Facts (and the
// collections it is in).
func (e *Engine) indexInventory(ctx context.Context, d store.Device, v any, at time.Time) error {
	switch v.(type) {
	case *scripts.SoftwareInventory, *scripts.SecurityInventory:
	default:
		return nil
	}
	base, err := e.storedFactsDoc(ctx, d.ID)
	if err != nil {
		return err
	}
	doc, _ := factsPart(v, at, base)
	b, err := encodeFacts(doc)
	if err != nil {
		return fmt.Errorf("inventory index of %s: %w", d.Hostname, err)
	}
	if err := e.db.PutInventory(ctx, store.Inventory{DeviceID: d.ID, Category: indexCategory, Data: b, CollectedAt: at}); err != nil {
		return err
	}
	e.setFacts(map[int64]*filter.Facts{d.ID: e.facts.cat.Build(doc)}, true)
	return nil
}

// setFacts gives devices their Facts and publishes them. Unless replace
// is set, a device that has Facts keeps them (they are newer than a load
// that started before they were built).
func (e *Engine) setFacts(facts map[int64]*filter.Facts, replace bool) {
	e.mu.Lock()
	states := make([]DeviceState, 0, len(facts))
	for id, f := range facts {
		en, ok := e.devices[id]
		if !ok || !replace && en.state.Facts != nil {
			continue
		}
		en.state.Facts = f
		states = append(states, en.state)
	}
	sum := e.summaryLocked()
	e.mu.Unlock()
	if len(states) == 0 {
		return
	}
	e.hub.Publish(states, sum)
	ids := make([]int64, len(states))
	for i := range states {
		ids[i] = states[i].ID
	}
	e.colls.observe(e, ids...)
}

// FactsLoaded reports whether LoadFacts has run to the end.
func (e *Engine) FactsLoaded() bool {
	e.facts.mu.Lock()
	defer e.facts.mu.Unlock()
	return e.facts.loaded
}

// LoadFacts builds every device's Facts from the stored index documents,
// once per engine (a failed load is tried again by the next call; a
// concurrent call waits for the one in progress). Inventory stored by a
// version of rmm before the index existed is indexed now, one device at a
// time. The console and rmm serve call it in the background when they
// start; a request whose filter reads inventory calls it first.
func (e *Engine) LoadFacts(ctx context.Context) error {
	ix := &e.facts
	ix.mu.Lock()
	if ix.loaded {
		ix.mu.Unlock()
		return nil
	}
	if c := ix.call; c != nil {
		ix.mu.Unlock()
		select {
		case <-c.done:
			return c.err
		case <-ctx.Done():
			return fmt.Errorf("inventory index: %w", context.Cause(ctx))
		}
	}
	c := &factLoad{done: make(chan struct{})}
	ix.call = c
	ix.mu.Unlock()

	start := time.Now()
	n, err := e.loadFacts(ctx)
	c.err = err
	ix.mu.Lock()
	ix.call = nil
	ix.loaded = err == nil
	ix.mu.Unlock()
	close(c.done)
	if err != nil {
		return err
	}
	e.colls.recompute(e)
	e.log.Info("inventory index loaded", "devices", n, "catalog", ix.cat.Len(), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func (e *Engine) loadFacts(ctx context.Context) (int, error) {
	docs := map[int64]filter.FactsDoc{}
	err := e.db.EachInventory(ctx, indexCategory, func(inv store.Inventory) error {
		d, err := decodeFacts(inv.Data)
		if err != nil {
			e.log.Warn("inventory index unreadable, rebuilt from the inventory", "device_id", inv.DeviceID, "err", err)
			return nil
		}
		docs[inv.DeviceID] = d
		return nil
	})
	if err != nil {
		return 0, err
	}
	// Inventory older than the index (or never indexed): index it now.
	for _, cat := range []string{InventorySoftware, InventorySecurity} {
		ages, err := e.db.InventoryCollected(ctx, cat)
		if err != nil {
			return 0, err
		}
		for id, at := range ages {
			d := docs[id]
			have := d.SoftwareAt
			if cat == InventorySecurity {
				have = d.SecurityAt
			}
			if !have.Before(at) {
				continue
			}
			dev, ok := e.device(id)
			if !ok {
				continue
			}
			inv, err := e.db.GetInventory(ctx, id, cat)
			if err != nil {
				return 0, err
			}
			v, _, err := scripts.ParseInventory(cat, inv.Data)
			if err != nil {
				e.log.Warn("stored inventory unreadable, not indexed", "device", dev.Hostname, "category", cat, "err", err)
				continue
			}
			d, _ = factsPart(v, inv.CollectedAt, d)
			b, err := encodeFacts(d)
			if err != nil {
				return 0, err
			}
			if err := e.db.PutInventory(context.WithoutCancel(ctx), store.Inventory{DeviceID: id, Category: indexCategory, Data: b, CollectedAt: inv.CollectedAt}); err != nil {
				return 0, err
			}
			docs[id] = d
		}
	}
	facts := make(map[int64]*filter.Facts, len(docs))
	for id, d := range docs {
		facts[id] = e.facts.cat.Build(d)
	}
	e.setFacts(facts, false)
	return len(facts), nil
}
