package filter

import (
	"bytes"
	"cmp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The inventory facts the grammar reads (software:, service:, missing:,
// bitlocker: ...), indexed when inventory is stored so that a filter never
// reads an inventory document: every distinct application (name and
// version), service (name and state) and hotfix is interned once in a
// Catalog, and each device's Facts hold only the catalog ids it has. A
// term is first matched against the catalog (a few thousand entries, once
// per filter and catalog size), which leaves one bit test per id and
// device.

// EntryKind is what a catalog entry is.
type EntryKind uint8

// Catalog entry kinds.
const (
	KindApp     EntryKind = iota + 1 // an installed application: Name, Value = version
	KindService                      // a service: Name, Value = state (Running, Stopped...)
	KindHotfix                       // a hotfix: Name = "KB5034441", Value = ""
)

// Entry is one interned fact.
type Entry struct {
	Kind  EntryKind
	Name  string
	Value string
}

// Catalog interns facts. It is safe for concurrent use; entries are only
// ever added, never changed, so an id stays valid for the catalog's life.
// The zero value is not usable: create one with NewCatalog.
type Catalog struct {
	mu      sync.RWMutex
	entries []Entry
	// Entries grouped by kind and name: a term matches names (a few
	// thousand even in a big fleet), then only the matching names'
	// entries (their versions or states), not every entry.
	names  map[nameKey]int
	groups [][]nameGroup // by kind
	// text holds each kind's lower-case names, each followed by a NUL,
	// in group order, and starts where each begins: a substring term
	// (software:zoom) finds its names with bytes.Index over the text (a
	// fleet's application names run to hundreds of thousands when
	// installers put versions in them), not a Contains per name.
	text   [][]byte
	starts [][]int
}

type nameKey struct {
	kind EntryKind
	name string
}

// nameGroup is the entries of one name of one kind (its lower-case form
// is in the catalog's text). A name with many values (a driver whose
// version differs on every host) gets a map of them.
type nameGroup struct {
	name    string
	ids     []uint32
	byValue map[string]uint32 // nil until the group has more than groupScan values
}

// groupScan is how many values of a name are searched one by one.
const groupScan = 16

// lookup finds an entry; c.mu is held.
func (c *Catalog) lookup(kind EntryKind, name, value string) (uint32, bool) {
	g, ok := c.names[nameKey{kind, name}]
	if !ok {
		return 0, false
	}
	grp := &c.groups[kind][g]
	if grp.byValue != nil {
		id, ok := grp.byValue[value]
		return id, ok
	}
	for _, id := range grp.ids {
		if c.entries[id].Value == value {
			return id, true
		}
	}
	return 0, false
}

// NewCatalog returns an empty catalog.
func NewCatalog() *Catalog {
	return &Catalog{names: make(map[nameKey]int), groups: make([][]nameGroup, KindHotfix+1),
		text: make([][]byte, KindHotfix+1), starts: make([][]int, KindHotfix+1)}
}

// snapshot is every entry added so far. The slice is never written below
// its length, so it can be read without the lock.
func (c *Catalog) snapshot() []Entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.entries
}

// Len is the number of entries.
func (c *Catalog) Len() int { return len(c.snapshot()) }

// Entry returns entry id.
func (c *Catalog) Entry(id uint32) Entry { return c.snapshot()[id] }

// intern returns the ids of items (kind, name, value), adding the new
// ones, sorted and without duplicates.
func (c *Catalog) intern(kind EntryKind, items [][2]string) []uint32 {
	if len(items) == 0 {
		return nil
	}
	out := make([]uint32, 0, len(items))
	missing := false
	c.mu.RLock()
	for _, it := range items {
		id, ok := c.lookup(kind, it[0], it[1])
		if !ok {
			missing = true
			break
		}
		out = append(out, id)
	}
	c.mu.RUnlock()
	if missing {
		out = out[:0]
		c.mu.Lock()
		for _, it := range items {
			id, ok := c.lookup(kind, it[0], it[1])
			if !ok {
				id = c.add(kind, it[0], it[1])
			}
			out = append(out, id)
		}
		c.mu.Unlock()
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// add adds an entry; c.mu is held for writing.
func (c *Catalog) add(kind EntryKind, name, value string) uint32 {
	id := uint32(len(c.entries))
	c.entries = append(c.entries, Entry{Kind: kind, Name: name, Value: value})
	nk := nameKey{kind, name}
	g, ok := c.names[nk]
	if !ok {
		g = len(c.groups[kind])
		c.names[nk] = g
		c.groups[kind] = append(c.groups[kind], nameGroup{name: name})
		c.starts[kind] = append(c.starts[kind], len(c.text[kind]))
		c.text[kind] = append(append(c.text[kind], strings.ToLower(name)...), 0)
	}
	grp := &c.groups[kind][g]
	grp.ids = append(grp.ids, id)
	switch {
	case grp.byValue != nil:
		grp.byValue[value] = id
	case len(grp.ids) > groupScan:
		grp.byValue = make(map[string]uint32, len(grp.ids))
		for _, e := range grp.ids {
			grp.byValue[c.entries[e].Value] = e
		}
	}
	return id
}

// Tri is a fact that may be unknown.
type Tri int8

// Tri values.
const (
	Unknown Tri = iota
	No
	Yes
)

// TriOf is Yes or No.
func TriOf(b bool) Tri {
	if b {
		return Yes
	}
	return No
}

// String is "yes", "no" or "" (unknown).
func (t Tri) String() string {
	switch t {
	case Yes:
		return "yes"
	case No:
		return "no"
	}
	return ""
}

// ParseTri reads "yes"/"no" (and "", unknown).
func ParseTri(s string) Tri {
	switch s {
	case "yes":
		return Yes
	case "no":
		return No
	}
	return Unknown
}

// FactsDoc is the stored form of a device's facts (the engine keeps one
// per device beside its inventory documents) and what Facts are built
// from. The software part comes from the software inventory, the security
// part from the security inventory; either may be absent.
type FactsDoc struct {
	SoftwareAt time.Time   `json:"software_at,omitzero"` // zero: no software inventory
	Apps       [][2]string `json:"apps,omitempty"`       // name, version
	Services   [][2]string `json:"services,omitempty"`   // name, state
	Hotfixes   []string    `json:"hotfixes,omitempty"`   // "KB5034441"
	LastBoot   time.Time   `json:"last_boot,omitzero"`
	OS         string      `json:"os,omitempty"` // the caption the inventory saw

	SecurityAt time.Time `json:"security_at,omitzero"` // zero: no security inventory
	BitLocker  string    `json:"bitlocker,omitempty"`  // on, off; "" unknown
	Firewall   string    `json:"firewall,omitempty"`   // on, off; "" unknown
	Defender   string    `json:"defender,omitempty"`   // on, off; "" unknown
	Reboot     string    `json:"reboot,omitempty"`     // yes, no; "" unknown
}

// Facts are one device's indexed inventory facts. They are immutable: a
// new inventory builds new Facts.
type Facts struct {
	cat      *Catalog
	apps     []uint32
	services []uint32
	hotfixes []uint32
	doc      FactsDoc // the scalars; its lists are nil (they are the ids above)
}

// Build interns a device's facts in the catalog.
func (c *Catalog) Build(d FactsDoc) *Facts {
	f := &Facts{cat: c}
	if !d.SoftwareAt.IsZero() {
		f.apps = c.intern(KindApp, d.Apps)
		f.services = c.intern(KindService, d.Services)
		kbs := make([][2]string, len(d.Hotfixes))
		for i, h := range d.Hotfixes {
			kbs[i] = [2]string{NormalizeKB(h), ""}
		}
		f.hotfixes = c.intern(KindHotfix, kbs)
	}
	d.Apps, d.Services, d.Hotfixes = nil, nil, nil
	f.doc = d
	return f
}

// Doc returns the facts in their stored form, lists sorted.
func (f *Facts) Doc() FactsDoc {
	d := f.doc
	ents := f.cat.snapshot()
	pairs := func(ids []uint32) [][2]string {
		if len(ids) == 0 {
			return nil
		}
		out := make([][2]string, len(ids))
		for i, id := range ids {
			out[i] = [2]string{ents[id].Name, ents[id].Value}
		}
		slices.SortFunc(out, func(a, b [2]string) int { return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1])) })
		return out
	}
	d.Apps, d.Services = pairs(f.apps), pairs(f.services)
	for _, id := range f.hotfixes {
		d.Hotfixes = append(d.Hotfixes, ents[id].Name)
	}
	slices.Sort(d.Hotfixes)
	return d
}

// Scalars returns the facts in their stored form without the lists (no
// copy of them is made): times, OS, BitLocker, firewall, Defender, reboot.
func (f *Facts) Scalars() FactsDoc {
	if f == nil {
		return FactsDoc{}
	}
	return f.doc
}

// HasSoftware reports whether the software inventory is known.
func (f *Facts) HasSoftware() bool { return f != nil && !f.doc.SoftwareAt.IsZero() }

// HasSecurity reports whether the security inventory is known.
func (f *Facts) HasSecurity() bool { return f != nil && !f.doc.SecurityAt.IsZero() }

// LastBoot is the last boot the software inventory saw; zero if unknown.
func (f *Facts) LastBoot() time.Time {
	if f == nil {
		return time.Time{}
	}
	return f.doc.LastBoot
}

// Reboot is whether the security inventory saw a reboot pending.
func (f *Facts) Reboot() Tri {
	if f == nil {
		return Unknown
	}
	return ParseTri(f.doc.Reboot)
}

// App is one installed application.
type App struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Apps lists the device's applications, sorted by name.
func (f *Facts) Apps() []App {
	if f == nil {
		return nil
	}
	ents := f.cat.snapshot()
	out := make([]App, len(f.apps))
	for i, id := range f.apps {
		out[i] = App{ents[id].Name, ents[id].Value}
	}
	slices.SortFunc(out, func(a, b App) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Version, b.Version))
	})
	return out
}

// Sizes are how many applications, services and hotfixes the facts hold.
func (f *Facts) Sizes() (apps, services, hotfixes int) {
	if f == nil {
		return 0, 0, 0
	}
	return len(f.apps), len(f.services), len(f.hotfixes)
}

// NormalizeKB writes a hotfix id as Windows does: "KB" and the digits
// ("5034441", "kb5034441" -> "KB5034441").
func NormalizeKB(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		return "KB" + s
	}
	return s
}

// CompareVersions orders two version strings the way an admin reads
// them: split at dots (and dashes, underscores, spaces, plus signs), each
// part compared as a number when both are numbers, else as text without
// case; a missing part counts as 0 ("5.17" equals "5.17.0", and is older
// than "5.17.0.1234").
func CompareVersions(a, b string) int {
	pa, pb := versionParts(a), versionParts(b)
	for i := range max(len(pa), len(pb)) {
		x, y := "0", "0"
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		nx, ex := strconv.ParseUint(x, 10, 64)
		ny, ey := strconv.ParseUint(y, 10, 64)
		var c int
		switch {
		case ex == nil && ey == nil:
			c = cmp.Compare(nx, ny)
		case ex == nil:
			c = -1 // a number before text: 5.17 < 5.17b
		case ey == nil:
			c = 1
		default:
			c = strings.Compare(strings.ToLower(x), strings.ToLower(y))
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

func versionParts(s string) []string {
	return strings.FieldsFunc(strings.TrimSpace(s), func(r rune) bool {
		return r == '.' || r == '-' || r == '_' || r == ' ' || r == '+' || r == ','
	})
}

// bitset is which catalog entries a term accepts, for the first n
// entries. few lists them, sorted, when they are few (a service in a
// state, one hotfix): a host's list is then searched for each, not read
// whole.
type bitset struct {
	cat  *Catalog
	n    int
	bits []uint64
	few  []uint32 // nil when more than maxFew
}

// maxFew is the most accepted entries a bitset lists.
const maxFew = 16

func (b *bitset) has(id uint32) bool { return b.bits[id>>6]&(1<<(id&63)) != 0 }

// groupsContaining calls fn with each group of a kind whose lower-case
// name contains sub (lower case, no NUL), under the catalog's read lock.
func (c *Catalog) groupsContaining(kind EntryKind, sub string, fn func(g *nameGroup)) {
	text, starts, groups := c.text[kind], c.starts[kind], c.groups[kind]
	needle := []byte(sub)
	for pos := 0; pos < len(text); {
		i := bytes.Index(text[pos:], needle)
		if i < 0 {
			return
		}
		at := pos + i
		g, _ := slices.BinarySearch(starts, at+1) // the group whose name holds at
		g--
		if bytes.IndexByte(text[at:at+len(needle)], 0) < 0 { // within one name
			fn(&groups[g])
		}
		if g+1 < len(starts) {
			pos = starts[g+1]
		} else {
			return
		}
	}
}

// newBitset is the set of entries of one kind whose name nameOK accepts
// and whose entry entryOK accepts, computed under the catalog's read lock
// over the names of that kind and the matching names' entries only.
func newBitset(cat *Catalog, kind EntryKind, nameOK func(name string) bool, entryOK func(*Entry) bool) *bitset {
	return collectBitset(cat, entryOK, func(add func(g *nameGroup)) {
		for i := range cat.groups[kind] {
			if g := &cat.groups[kind][i]; nameOK(g.name) {
				add(g)
			}
		}
	})
}

// newBitsetContaining is newBitset for the names of a kind that contain
// sub (lower case).
func newBitsetContaining(cat *Catalog, kind EntryKind, sub string, entryOK func(*Entry) bool) *bitset {
	return collectBitset(cat, entryOK, func(add func(g *nameGroup)) { cat.groupsContaining(kind, sub, add) })
}

// collectBitset builds a bitset, under the catalog's read lock, of the
// entries entryOK accepts in the groups groups hands to add.
func collectBitset(cat *Catalog, entryOK func(*Entry) bool, groups func(add func(g *nameGroup))) *bitset {
	cat.mu.RLock()
	defer cat.mu.RUnlock()
	ents := cat.entries
	b := &bitset{cat: cat, n: len(ents), bits: make([]uint64, (len(ents)+63)/64)}
	count := 0
	groups(func(g *nameGroup) {
		for _, id := range g.ids {
			if entryOK(&ents[id]) {
				b.bits[id>>6] |= 1 << (id & 63)
				if count++; count <= maxFew {
					b.few = append(b.few, id)
				}
			}
		}
	})
	b.finish(count)
	return b
}

func (b *bitset) finish(count int) {
	if count > maxFew {
		b.few = nil
		return
	}
	slices.Sort(b.few)
	if b.few == nil {
		b.few = []uint32{}
	}
}

// anyOf reports whether one of ids (sorted) is in the set.
func (b *bitset) anyOf(ids []uint32) bool {
	if b.few != nil && len(b.few)*8 < len(ids) {
		for _, id := range b.few {
			if _, ok := slices.BinarySearch(ids, id); ok {
				return true
			}
		}
		return false
	}
	for _, id := range ids {
		if b.has(id) {
			return true
		}
	}
	return false
}
