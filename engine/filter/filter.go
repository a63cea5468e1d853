// Package filter owns the filter grammar every front end shares: the
// console's / and :filter, saved views, collections, rmm run --filter,
// rmm inventory query and action targets. A Filter is parsed once and
// matched against Rows, which the engine builds from its device states;
// inventory terms (software:, service:, missing:, bitlocker: ...) read the
// device's indexed Facts (facts.go), never an inventory document.
//
// The package imports nothing of rmm: the engine, the console and the
// CLI import it.
package filter

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
)

// Row is what a filter reads of one device. The engine fills it from a
// device's state (engine.DeviceState.FilterRow).
type Row struct {
	Hostname  string
	Site      string
	Status    string // Online, Offline, Unknown
	OSName    string // "Microsoft Windows Server 2019 Datacenter"
	OSVersion string // "10.0.17763"
	Tags      []string
	Groups    []string

	HasMetrics     bool
	CPU, Mem, Disk float64 // latest %; Disk is the lowest free % of the fixed volumes

	LastBoot time.Time // from the latest poll; zero: unknown (Facts' is used then)
	Reboot   Tri       // a reboot pending, from the latest poll (Facts' when Unknown)

	Facts *Facts // nil: no inventory indexed yet
}

// Filter is a parsed filter expression (see Parse). The zero value
// matches every device. A Filter is safe to share between goroutines.
type Filter struct {
	terms []term

	hasSort  bool
	sortBy   string // a column's canonical name (SortColumns)
	sortDesc bool

	expr string // the expression without its sort terms, as typed
	now  func() time.Time
}

// Error is a term Parse could not read.
type Error struct {
	Term string // the term as typed, e.g. "cpu>abc"
	Msg  string // what is wrong with it
}

// Error is "term: what is wrong", e.g. `cpu>abc: "abc" is not a number`.
func (e *Error) Error() string { return e.Term + ": " + e.Msg }

type termKind uint8

const (
	termText      termKind = iota // free text: hostname, site, status, OS, tags
	termHost                      // host:
	termSite                      // site:
	termStatus                    // status:
	termOS                        // os:
	termTag                       // tag:
	termGroup                     // group:
	termMetric                    // cpu, mem, disk comparisons
	termApp                       // software: (software.version qualifies it)
	termService                   // service:NAME[=STATE]
	termInstalled                 // installed:KB
	termMissing                   // missing:KB
	termBitLocker                 // bitlocker:on|off|unknown
	termFirewall                  // firewall:on|off|unknown
	termDefender                  // defender:on|off|unknown
	termReboot                    // reboot:pending|no
	termUptime                    // uptime>30d
)

type cmpOp uint8

const (
	opContains cmpOp = iota // field:value (what "contains" means depends on the field)
	opEqual                 // field=value, cpu=50
	opLess                  // <
	opLessEq                // <=
	opMore                  // >
	opMoreEq                // >=
)

// Metric names a metric a comparison reads.
type metricKind uint8

const (
	metricCPU metricKind = iota
	metricMem
	metricDisk
)

type term struct {
	kind   termKind
	neg    bool
	op     cmpOp
	text   string // the value; matching folds case
	prefix bool   // tag:sql*, group:fin*, service:Win*: the value is a prefix
	metric metricKind
	num    float64 // comparisons; uptime in seconds

	state string        // service:NAME=STATE: the state (a prefix)
	vers  []versionQual // software.version terms after a software: term
	want  Tri           // bitlocker/firewall/defender/reboot: Yes (on, pending) or No; Unknown: unknown

	sets *setCache // catalog terms: which entries match, per catalog
}

// versionQual is one software.version condition.
type versionQual struct {
	op    cmpOp
	value string
	neg   bool
}

// setCache holds a catalog term's bitset; shared by the copies of a
// Filter.
type setCache struct {
	mu  sync.Mutex
	cur atomic.Pointer[bitset]
}

// Fields are the field names a term may start with, for messages and
// the help.
const Fields = "host, site, status, os, tag, group, cpu, mem, disk, software, software.version, service, installed, missing, " +
	"bitlocker, firewall, defender, reboot, uptime, sort"

// Parse reads a filter expression: terms separated by spaces, all of
// which a device must match.
//
//	web                free text: a case-insensitive substring of the
//	                   hostname, site, status, OS edition ("Server 2019
//	                   Datacenter", without "Microsoft Windows") or
//	                   version, or a tag
//	host:web           substring of the hostname (host=web: the whole name)
//	site:lon           substring of the site (site=London: the whole site)
//	status:off         status starting with "off" (status=offline: exactly)
//	os:2016            substring of the OS name or version
//	tag:sql  tag:sql*  a tag equal to "sql", or starting with it
//	group:finance      a group, like tag:
//	cpu>80 mem>=90     comparisons of the latest metrics (<, <=, >, >=, =);
//	disk<10            disk is the lowest free % of the fixed volumes; a
//	                   device without metrics matches no comparison
//	software:zoom      an installed application whose name holds "zoom"
//	                   (software="Zoom Workplace (64-bit)": the whole name)
//	software.version<5.17
//	                   qualifies the software: term before it: that same
//	                   application's version compared part by part
//	                   (<, <=, >, >=, =; software.version:5.17 starts with)
//	service:Spooler    a service by name (Spooler* a prefix), any state;
//	service:Spooler=stopped  in that state (a prefix: stop, run)
//	installed:KB5034441      the hotfix is in the host's hotfix list
//	missing:KB5034441        the host's hotfix list lacks it
//	bitlocker:off      the system drive is not protected (on, off, unknown)
//	firewall:off       a firewall profile is off (on: every profile is on)
//	defender:off       Defender antivirus or real-time protection is off
//	reboot:pending     a reboot is pending (reboot:no: none is)
//	uptime>30d         time since the last boot (d, h, m, w; a bare number
//	                   is days)
//	!tag:prod -status:online
//	                   ! or - before a term negates it
//	"new york"         quotes keep spaces, and make a term plain text
//	sort:cpu sort:-cpu the order to show (- for descending); it selects
//	                   nothing (see Filter.Sort)
//
// Inventory terms read what the last inventory stored: a device whose
// inventory of that kind was never collected matches none of them, and
// so matches each of them negated.
//
// A term it cannot read is an *Error naming the term; the returned
// Filter then matches nothing.
func Parse(expr string) (Filter, error) {
	toks, err := tokenize(expr)
	if err != nil {
		return nothing(), err
	}
	var f Filter
	kept := make([]string, 0, len(toks))
	for _, tk := range toks {
		t, kind, err := parseTerm(tk)
		if err != nil {
			return nothing(), err
		}
		switch kind {
		case parsedSort:
			f.hasSort, f.sortBy, f.sortDesc = true, t.text, t.neg
			continue
		case parsedVersion:
			app := lastApp(f.terms)
			if app == nil {
				return nothing(), &Error{Term: tk.raw, Msg: "software.version qualifies a software: term: put one before it, e.g. software:zoom software.version<5.17"}
			}
			app.vers = append(app.vers, t.vers...)
			kept = append(kept, tk.raw)
			continue
		}
		f.terms = append(f.terms, t)
		kept = append(kept, tk.raw)
	}
	f.expr = strings.Join(kept, " ")
	return f, nil
}

// lastApp is the last software: term, which a software.version term
// qualifies.
func lastApp(ts []term) *term {
	for i := len(ts) - 1; i >= 0; i-- {
		if ts[i].kind == termApp {
			return &ts[i]
		}
	}
	return nil
}

// MustParse is Parse for expressions known to be good (tests, built-in
// views); it panics on an error.
func MustParse(expr string) Filter {
	f, err := Parse(expr)
	if err != nil {
		panic("filter.MustParse(" + strconv.Quote(expr) + "): " + err.Error())
	}
	return f
}

// nothing is the filter of a bad expression: it matches no device.
func nothing() Filter {
	return Filter{terms: []term{{kind: termText, neg: true}}}
}

// WithClock returns the filter reading the time (for uptime terms) from
// now instead of time.Now.
func (f Filter) WithClock(now func() time.Time) Filter {
	f.now = now
	return f
}

// Match reports whether the row matches every term of the filter.
func (f Filter) Match(r *Row) bool {
	var now time.Time
	for i := range f.terms {
		t := &f.terms[i]
		if t.kind == termUptime && now.IsZero() {
			now = f.clock()
		}
		if t.match(r, now) == t.neg {
			return false
		}
	}
	return true
}

func (f Filter) clock() time.Time {
	if f.now != nil {
		return f.now()
	}
	return time.Now()
}

// Sort returns the order a sort: term asked for, as a column's canonical
// name (SortColumns); ok is false when the expression has none.
func (f Filter) Sort() (column string, desc, ok bool) { return f.sortBy, f.sortDesc, f.hasSort }

// Expr is the expression without its sort terms: what selects devices.
func (f Filter) Expr() string { return f.expr }

// Empty reports whether the filter selects every device.
func (f Filter) Empty() bool { return len(f.terms) == 0 }

// NeedsFacts reports whether a term reads inventory facts: the engine
// loads its index before it evaluates such a filter.
func (f Filter) NeedsFacts() bool {
	for _, t := range f.terms {
		if t.kind >= termApp {
			return true
		}
	}
	return false
}

// NamesSoftware reports whether the expression has a software: term (not
// negated): an inventory query then shows the applications it names.
func (f Filter) NamesSoftware() bool {
	for _, t := range f.terms {
		if t.kind == termApp && !t.neg {
			return true
		}
	}
	return false
}

// MatchingApps are the row's applications that the filter's software:
// terms (not negated) accept, with their qualifiers; every application
// when it has none. For rmm inventory query's software columns.
func (f Filter) MatchingApps(r *Row) []App {
	fa := r.Facts
	if fa == nil {
		return nil
	}
	var apps []*term
	for i := range f.terms {
		if t := &f.terms[i]; t.kind == termApp && !t.neg {
			apps = append(apps, t)
		}
	}
	ents := fa.cat.snapshot()
	var out []App
	for _, id := range fa.apps {
		ok := true
		for _, t := range apps {
			ok = ok && t.set(fa.cat, id).has(id)
		}
		if ok {
			out = append(out, App{ents[id].Name, ents[id].Value})
		}
	}
	return out
}

// osEdition is a Windows caption without "Microsoft Windows ": free text
// "ws" or "soft" should not match every Windows machine. os: still sees
// the whole caption.
func osEdition(name string) string {
	const prefix = "microsoft windows "
	if hasPrefixFold(name, prefix) {
		return name[len(prefix):]
	}
	return name
}

func (t *term) match(r *Row, now time.Time) bool {
	switch t.kind {
	case termText:
		if containsFold(r.Hostname, t.text) || containsFold(r.Site, t.text) ||
			containsFold(r.Status, t.text) || containsFold(osEdition(r.OSName), t.text) ||
			containsFold(r.OSVersion, t.text) {
			return true
		}
		for _, tag := range r.Tags {
			if containsFold(tag, t.text) {
				return true
			}
		}
		return false
	case termHost:
		return t.textMatch(r.Hostname, containsFold)
	case termSite:
		return t.textMatch(r.Site, containsFold)
	case termStatus:
		return t.textMatch(r.Status, hasPrefixFold)
	case termOS:
		if t.op == opEqual {
			return strings.EqualFold(r.OSName, t.text) || strings.EqualFold(r.OSVersion, t.text)
		}
		return containsFold(r.OSName, t.text) || containsFold(r.OSVersion, t.text)
	case termTag:
		return t.labelMatch(r.Tags)
	case termGroup:
		return t.labelMatch(r.Groups)
	case termMetric:
		if !r.HasMetrics {
			return false
		}
		v := r.Disk
		switch t.metric {
		case metricCPU:
			v = r.CPU
		case metricMem:
			v = r.Mem
		}
		return compare(v, t.op, t.num)
	case termApp:
		return t.anyIn(r.Facts, r.Facts.appIDs())
	case termService:
		return t.anyIn(r.Facts, r.Facts.serviceIDs())
	case termInstalled:
		return r.Facts.HasSoftware() && t.anyIn(r.Facts, r.Facts.hotfixes)
	case termMissing:
		return r.Facts.HasSoftware() && !t.anyIn(r.Facts, r.Facts.hotfixes)
	case termBitLocker, termFirewall, termDefender:
		var s string
		if r.Facts.HasSecurity() {
			switch t.kind {
			case termBitLocker:
				s = r.Facts.doc.BitLocker
			case termFirewall:
				s = r.Facts.doc.Firewall
			default:
				s = r.Facts.doc.Defender
			}
		}
		switch t.want {
		case Yes:
			return s == "on"
		case No:
			return s == "off"
		}
		return s == ""
	case termReboot:
		v := r.Reboot
		if v == Unknown {
			v = r.Facts.Reboot()
		}
		return v != Unknown && v == t.want
	case termUptime:
		boot := r.LastBoot
		if boot.IsZero() {
			boot = r.Facts.LastBoot()
		}
		if boot.IsZero() || now.Before(boot) {
			return false
		}
		return compare(now.Sub(boot).Seconds(), t.op, t.num)
	}
	return false
}

func compare(v float64, op cmpOp, n float64) bool {
	switch op {
	case opLess:
		return v < n
	case opLessEq:
		return v <= n
	case opMore:
		return v > n
	case opMoreEq:
		return v >= n
	}
	return v == n
}

func (f *Facts) appIDs() []uint32 {
	if f == nil {
		return nil
	}
	return f.apps
}

func (f *Facts) serviceIDs() []uint32 {
	if f == nil {
		return nil
	}
	return f.services
}

// anyIn reports whether one of ids is an entry the term accepts.
func (t *term) anyIn(fa *Facts, ids []uint32) bool {
	if fa == nil || len(ids) == 0 {
		return false
	}
	return t.set(fa.cat, ids[len(ids)-1]).anyOf(ids) // ids are sorted: the last is the largest
}

// set returns the term's bitset over cat covering id, computing it again
// when the catalog grew past the cached one (or is another catalog).
func (t *term) set(cat *Catalog, id uint32) *bitset {
	if b := t.sets.cur.Load(); b != nil && b.cat == cat && int(id) < b.n {
		return b
	}
	t.sets.mu.Lock()
	defer t.sets.mu.Unlock()
	if b := t.sets.cur.Load(); b != nil && b.cat == cat && int(id) < b.n {
		return b
	}
	b := t.bitset(cat)
	t.sets.cur.Store(b)
	return b
}

// bitset evaluates a catalog term over cat: its name condition over the
// names of its kind, then its value condition over their entries.
func (t *term) bitset(cat *Catalog) *bitset {
	switch t.kind {
	case termApp:
		versions := func(e *Entry) bool {
			for _, q := range t.vers {
				if q.accepts(e.Value) == q.neg {
					return false
				}
			}
			return true
		}
		if t.op == opEqual {
			return newBitset(cat, KindApp, func(name string) bool { return strings.EqualFold(name, t.text) }, versions)
		}
		return newBitsetContaining(cat, KindApp, t.text, versions) // t.text is lower case
	case termService:
		return newBitset(cat, KindService, func(name string) bool {
			if t.prefix {
				return hasPrefixFold(name, t.text)
			}
			return strings.EqualFold(name, t.text)
		}, func(e *Entry) bool { return t.state == "" || hasPrefixFold(e.Value, t.state) })
	default: // installed:, missing:
		return newBitset(cat, KindHotfix, func(name string) bool { return name == t.text },
			func(*Entry) bool { return true })
	}
}

// accepts reports whether an application version meets the condition;
// an application without a version meets none.
func (q versionQual) accepts(v string) bool {
	if strings.TrimSpace(v) == "" {
		return false
	}
	if q.op == opContains {
		p := strings.TrimSuffix(q.value, ".")
		return CompareVersions(v, p) == 0 || hasPrefixFold(v, p+".") || strings.EqualFold(v, p)
	}
	c := CompareVersions(v, q.value)
	switch q.op {
	case opLess:
		return c < 0
	case opLessEq:
		return c <= 0
	case opMore:
		return c > 0
	case opMoreEq:
		return c >= 0
	}
	return c == 0
}

// textMatch is field=value (the whole field) or field:value (contains).
func (t *term) textMatch(s string, contains func(s, sub string) bool) bool {
	if t.op == opEqual {
		return strings.EqualFold(s, t.text)
	}
	return contains(s, t.text)
}

// labelMatch is tag:/group:, labels an admin gave: equal (ignoring case),
// or starting with the value when it ended in *.
func (t *term) labelMatch(labels []string) bool {
	for _, l := range labels {
		if t.prefix && hasPrefixFold(l, t.text) || !t.prefix && strings.EqualFold(l, t.text) {
			return true
		}
	}
	return false
}

// token is one space-separated term as typed (raw) and with its quotes
// removed (text). quote is where the first quoted part starts in text, -1
// when nothing was quoted.
type token struct {
	raw, text string
	quote     int
}

func tokenize(s string) ([]token, error) {
	var out []token
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			return out, nil
		}
		start := i
		var b strings.Builder
		quote, inQuote := -1, false
		for i < len(s) && (inQuote || !isSpace(s[i])) {
			c := s[i]
			if c == '"' {
				if quote < 0 {
					quote = b.Len()
				}
				inQuote = !inQuote
				i++
				continue
			}
			b.WriteByte(c)
			i++
		}
		if inQuote {
			return nil, &Error{Term: s[start:i], Msg: "unterminated quote"}
		}
		out = append(out, token{raw: s[start:i], text: b.String(), quote: quote})
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// What parseTerm read.
const (
	parsedTerm    = iota
	parsedSort    // t.text is the column, t.neg descending
	parsedVersion // t.vers holds one software.version condition
)

// parseTerm reads one token.
func parseTerm(tk token) (t term, kind int, err error) {
	s, raw := tk.text, tk.raw
	bad := func(msg string) (term, int, error) {
		return term{}, 0, &Error{Term: raw, Msg: msg}
	}
	quote := tk.quote
	if quote != 0 && len(s) > 0 && (s[0] == '!' || s[0] == '-') {
		t.neg = true
		s = s[1:]
		quote--
		if s == "" && quote < 0 {
			return bad("nothing after " + raw[:1] + " to negate")
		}
	}
	if quote == 0 { // "quoted text" is plain text, whatever it holds
		t.kind, t.text = termText, s
		return t, parsedTerm, nil
	}
	name, op, value, ok := splitField(s, quote)
	if !ok {
		t.kind, t.text = termText, s
		return t, parsedTerm, nil
	}
	switch name {
	case "sort":
		if t.neg {
			return bad("a sort cannot be negated (sort:-COLUMN sorts descending)")
		}
		if op != opContains {
			return bad("write sort:COLUMN or sort:-COLUMN")
		}
		desc := strings.HasPrefix(value, "-")
		col, err := ParseColumn(strings.TrimLeft(value, "-+"))
		if err != nil {
			return bad(err.(*Error).Msg)
		}
		return term{text: col, neg: desc}, parsedSort, nil
	case "cpu", "mem", "memory", "disk":
		t.kind = termMetric
		t.metric = map[string]metricKind{"cpu": metricCPU, "mem": metricMem, "memory": metricMem, "disk": metricDisk}[name]
		op, value, err := comparison(name, op, value, "80")
		if err != nil {
			return bad(err.Error())
		}
		t.op = op
		v := strings.TrimSuffix(strings.TrimSpace(value), "%")
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return bad(strconv.Quote(v) + " is not a number")
		}
		t.num = n
		return t, parsedTerm, nil
	case "uptime":
		t.kind = termUptime
		op, value, err := comparison(name, op, value, "30d")
		if err != nil {
			return bad(err.Error())
		}
		secs, err := parseAge(value)
		if err != nil {
			return bad(err.Error())
		}
		t.op, t.num = op, secs
		return t, parsedTerm, nil
	case "software.version", "app.version":
		q := versionQual{op: op, value: strings.TrimSpace(value), neg: t.neg}
		if q.value == "" {
			return bad("needs a version, e.g. software.version<5.17")
		}
		return term{vers: []versionQual{q}}, parsedVersion, nil
	case "software", "app":
		if op != opContains && op != opEqual {
			return bad(name + " is text: write software:NAME or software=NAME (software.version compares versions)")
		}
		if value == "" {
			return bad(`needs an application name, e.g. software:"Zoom"`)
		}
		t.kind, t.op, t.text, t.sets = termApp, op, value, &setCache{}
		if op == opContains {
			t.text = strings.ToLower(value)
		}
		return t, parsedTerm, nil
	case "service", "svc":
		if op != opContains && op != opEqual {
			return bad("write service:NAME or service:NAME=STATE, e.g. service:Spooler=stopped")
		}
		svc, state, _ := strings.Cut(value, "=")
		if svc = strings.TrimSpace(svc); svc == "" {
			return bad("needs a service name, e.g. service:Spooler=stopped")
		}
		t.kind, t.op, t.sets = termService, opContains, &setCache{}
		t.text, t.state = svc, strings.TrimSpace(state)
		if strings.HasSuffix(svc, "*") {
			t.prefix, t.text = true, strings.TrimSuffix(svc, "*")
		}
		return t, parsedTerm, nil
	case "installed", "missing", "hotfix", "kb":
		if op != opContains && op != opEqual {
			return bad("write " + name + ":KB5034441")
		}
		kb := NormalizeKB(value)
		if len(kb) < 3 || !strings.HasPrefix(kb, "KB") {
			return bad("needs a hotfix id, e.g. " + name + ":KB5034441")
		}
		t.kind, t.text, t.sets = termInstalled, kb, &setCache{}
		if name == "missing" {
			t.kind = termMissing
		}
		return t, parsedTerm, nil
	case "bitlocker", "firewall", "defender":
		if op != opContains && op != opEqual {
			return bad("write " + name + ":on, " + name + ":off or " + name + ":unknown")
		}
		switch strings.ToLower(strings.TrimSpace(value)) {
		case "on", "yes", "true", "enabled":
			t.want = Yes
		case "off", "no", "false", "disabled":
			t.want = No
		case "unknown":
			t.want = Unknown
		default:
			return bad(name + " is on, off or unknown")
		}
		t.kind = map[string]termKind{"bitlocker": termBitLocker, "firewall": termFirewall, "defender": termDefender}[name]
		return t, parsedTerm, nil
	case "reboot":
		if op != opContains && op != opEqual {
			return bad("write reboot:pending or reboot:no")
		}
		switch strings.ToLower(strings.TrimSpace(value)) {
		case "pending", "yes", "true", "required":
			t.want = Yes
		case "no", "none", "false", "clear":
			t.want = No
		default:
			return bad("reboot is pending or no")
		}
		t.kind = termReboot
		return t, parsedTerm, nil
	}
	kinds := map[string]termKind{
		"host": termHost, "hostname": termHost, "name": termHost,
		"site": termSite, "status": termStatus, "os": termOS,
		"tag": termTag, "tags": termTag, "group": termGroup, "groups": termGroup,
	}
	k, known := kinds[name]
	if !known {
		return bad("unknown field " + strconv.Quote(name) + " (fields: " + Fields + `; quote text that holds a colon: "a:b")`)
	}
	switch op {
	case opContains, opEqual:
	default:
		return bad(name + " is text: write " + name + ":VALUE or " + name + "=VALUE")
	}
	if value == "" {
		return bad("needs a value, e.g. " + name + ":" + fieldExample(k))
	}
	t.kind, t.op, t.text = k, op, value
	if (k == termTag || k == termGroup) && strings.HasSuffix(value, "*") {
		t.prefix, t.text = true, strings.TrimSuffix(value, "*")
	}
	return t, parsedTerm, nil
}

// comparison reads the operator of a comparison field: cpu>80, or
// cpu:>80 which reads naturally too.
func comparison(name string, op cmpOp, value, example string) (cmpOp, string, error) {
	if op == opContains {
		o, rest := splitOp(value)
		if o == opContains {
			return 0, "", errors.New("compare with <, <=, >, >= or =, e.g. " + name + ">" + example)
		}
		op, value = o, rest
	}
	if strings.TrimSpace(value) == "" {
		what := "a number"
		if name == "uptime" {
			what = "an age"
		}
		return 0, "", errors.New("needs " + what + ", e.g. " + name + ">" + example)
	}
	return op, value, nil
}

// parseAge reads an uptime: a number with a unit, d (the default), h, m
// or w, or a Go duration ("36h30m"), in seconds.
func parseAge(s string) (float64, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if d, err := time.ParseDuration(s); err == nil && strings.ContainsAny(s, "hms") {
		return d.Seconds(), nil
	}
	unit := 86400.0
	switch {
	case strings.HasSuffix(s, "d"):
		s = s[:len(s)-1]
	case strings.HasSuffix(s, "w"):
		s, unit = s[:len(s)-1], 7*86400
	case strings.HasSuffix(s, "h"):
		s, unit = s[:len(s)-1], 3600
	case strings.HasSuffix(s, "m"):
		s, unit = s[:len(s)-1], 60
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 {
		return 0, errors.New(strconv.Quote(s) + " is not an age: write e.g. 30d, 12h, 2w")
	}
	return n * unit, nil
}

func fieldExample(k termKind) string {
	switch k {
	case termSite:
		return "london"
	case termStatus:
		return "offline"
	case termOS:
		return "2019"
	case termTag:
		return "sql"
	case termGroup:
		return "finance"
	}
	return "web"
}

// splitField splits "name:value", "name>=value"... ok is false when s does
// not start with a field name (letters, _ and inner dots) followed by an
// operator outside quotes.
func splitField(s string, quote int) (name string, op cmpOp, value string, ok bool) {
	i := 0
	for i < len(s) && (quote < 0 || i < quote) && (s[i] == '_' || i > 0 && s[i] == '.' || s[i] < 0x80 && unicode.IsLetter(rune(s[i]))) {
		i++
	}
	if i == 0 || i >= len(s) || (quote >= 0 && i >= quote) || s[i-1] == '.' {
		return "", 0, "", false
	}
	name = strings.ToLower(s[:i])
	if s[i] == ':' {
		return name, opContains, s[i+1:], true
	}
	op, value = splitOp(s[i:])
	if op == opContains {
		return "", 0, "", false
	}
	return name, op, value, true
}

// splitOp reads a comparison operator at the start of s.
func splitOp(s string) (cmpOp, string) {
	switch {
	case strings.HasPrefix(s, ">="):
		return opMoreEq, s[2:]
	case strings.HasPrefix(s, "<="):
		return opLessEq, s[2:]
	case strings.HasPrefix(s, ">"):
		return opMore, s[1:]
	case strings.HasPrefix(s, "<"):
		return opLess, s[1:]
	case strings.HasPrefix(s, "="):
		return opEqual, s[1:]
	}
	return opContains, s
}

// SortColumns are the columns a sort: term names, each with its aliases,
// canonical name first, in the console's column order.
func SortColumns() [][]string {
	return [][]string{
		{"hostname", "host", "name"},
		{"site"},
		{"status"},
		{"cpu"},
		{"mem", "memory"},
		{"disk", "disk_free"},
		{"last_seen", "seen", "lastseen"},
		{"os"},
	}
}

// ParseColumn reads a column name as sort: takes it ("cpu", "last_seen",
// "host"...), ignoring case, and returns its canonical name.
func ParseColumn(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	cols := SortColumns()
	canon := make([]string, 0, len(cols))
	for _, names := range cols {
		for _, alias := range names {
			if n == alias {
				return names[0], nil
			}
		}
		canon = append(canon, names[0])
	}
	if n == "" {
		return "", &Error{Term: name, Msg: "missing column (columns: " + strings.Join(canon, ", ") + ")"}
	}
	return "", &Error{Term: name, Msg: "unknown column (columns: " + strings.Join(canon, ", ") + ")"}
}
