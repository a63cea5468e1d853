// Package filter is rmm's one filter grammar, the one the console's "/"
// and :filter, saved views, collections, rmm run --filter, rmm devices
// --filter, rmm alerts --filter, rmm inventory query and action targets
// read: terms separated by spaces, all of which an item must match.
//
//	web                free text: a case-insensitive substring of the
//	                   item's texts (Schema.FreeText)
//	host:web           field contains the text (host=web: the whole field)
//	status:off         a prefix field starts with the text
//	tag:sql  tag:sql*  a label equal to "sql", or starting with it
//	cpu>80 mem>=90     comparisons of numbers (<, <=, >, >=, =); an item
//	                   without the number matches no comparison
//	uptime>30d         comparisons of an age (d, h, m, w; a bare number
//	                   is days)
//	bitlocker:off      a state, one of the field's words
//	software:zoom software.version<5.17
//	                   inventory facts, read from an index (facts.go),
//	                   and a qualifier of the term before it
//	!tag:prod -status:online
//	                   ! or - before a term negates it
//	"new york"         quotes keep spaces, and make a term plain text
//	sort:cpu sort:-cpu the order to show (- for descending); it selects
//	                   nothing (Filter.Sort)
//
// What the fields are is a Schema's (Schema.Parse). The device schema is here
// (devices.go, over Row, so the config file can check a collection
// without the engine); the engine has the alert schema. The package
// imports nothing of rmm.
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

// Kind is how a field's terms match.
type Kind uint8

// Field kinds.
const (
	// Text: field:value is a substring, field=value the whole field.
	Text Kind = iota
	// Prefix: field:value starts the field, field=value is all of it.
	Prefix
	// Labels: field:value equals one label, field:value* starts one.
	Labels
	// Number: field>N, >=, <, <=, = compare; field:>N reads as field>N.
	Number
	// Age: like Number over the time since Field.Time (uptime>30d); the
	// value is an age: 30d, 12h, 90m, 2w, a Go duration, or days.
	Age
	// State: field:WORD, one of Field.States' words (bitlocker:off).
	State
	// Apps: an application of the item's Facts whose name holds the
	// text (field=NAME: the whole name); a Version field qualifies it.
	Apps
	// Services: a service of the item's Facts by name (NAME* a prefix),
	// field:NAME=STATE in a state (a prefix of it).
	Services
	// Hotfixes: the hotfix is in the item's list (Field.Missing: the
	// known list lacks it).
	Hotfixes
	// Version: compares the version of the entries the last term of
	// field Field.Qualifies accepts (software.version<5.17).
	Version
)

// Field is one field of a Schema.
type Field[T any] struct {
	// Names are the field's name and its aliases ("host", "hostname").
	Names []string
	Kind  Kind
	// Text returns the field of a Text or Prefix field; Alt, when set, is
	// a second text the field also matches (os: the version).
	Text, Alt func(*T) string
	// Labels returns a Labels field's labels.
	Labels func(*T) []string
	// Number returns a Number field's value; ok is false when the item
	// has none.
	Number func(*T) (v float64, ok bool)
	// Time returns an Age field's start; zero when unknown (the item then
	// matches no comparison).
	Time func(*T) time.Time
	// State returns a State field's value; States are its words by
	// value: [Unknown], [No], [Yes], first word canonical. A value
	// without words cannot be asked for.
	State  func(*T) Tri
	States [3][]string
	// Facts returns the item's indexed facts for Apps, Services and
	// Hotfixes fields (nil: none indexed).
	Facts func(*T) *Facts
	// Missing makes a Hotfixes field match an item whose known hotfix
	// list lacks the hotfix.
	Missing bool
	// Qualifies is the canonical name of the field a Version field
	// qualifies.
	Qualifies string
	// Inventory marks a field that reads inventory facts (Facts, or a
	// Time or State that falls back to them): Filter.NeedsFacts.
	Inventory bool
	// Example is a value for the "needs a value, e.g. site:london" hint.
	Example string
}

// Schema is what expressions may say about T.
type Schema[T any] struct {
	Fields []Field[T]
	// FreeText reports whether any of the item's texts holds the text,
	// folding case (ContainsFold does it without allocating).
	FreeText func(item *T, text string) bool
	// SortKeys are the sortable columns for sort: terms, each its
	// canonical name first, then aliases. Empty: no sort: terms.
	SortKeys [][]string
}

// Error is a term Parse could not read.
type Error struct {
	Term string // the term as typed, e.g. "cpu>abc"
	Msg  string // what is wrong with it
}

// Error is "term: what is wrong", e.g. `cpu>abc: "abc" is not a number`.
func (e *Error) Error() string { return e.Term + ": " + e.Msg }

// Op is a comparison.
type Op uint8

// Comparisons.
const (
	OpContains Op = iota // field:value (what "contains" means depends on the field's Kind)
	OpEqual              // field=value, cpu=50
	OpLess               // <
	OpLessEq             // <=
	OpMore               // >
	OpMoreEq             // >=
)

type term[T any] struct {
	free     bool                  // free text
	freeText func(*T, string) bool // the schema's FreeText; nil in Nothing's term (which matches, negated)
	field    *Field[T]             // nil for free text
	neg      bool
	op       Op
	text     string // the value; matching folds case
	prefix   bool   // a Labels or Services value that ended in *
	num      float64
	state    string        // Services: the state asked for (a prefix); "" any
	want     Tri           // State: the value asked for
	vers     []versionQual // Apps: the Version terms after it
	sets     *setCache     // Apps, Services, Hotfixes: which catalog entries match
	raw      string        // the term as typed
}

// versionQual is one Version condition.
type versionQual struct {
	op    Op
	value string
	neg   bool
}

// setCache holds a catalog term's bitset; shared by the copies of a
// Filter.
type setCache struct {
	mu  sync.Mutex
	cur atomic.Pointer[bitset]
}

// Filter is a parsed expression. The zero value matches every item. A
// Filter is immutable and safe to share between goroutines.
type Filter[T any] struct {
	terms []term[T]

	hasSort  bool
	sortKey  string
	sortDesc bool

	expr string // the expression without its sort terms, as typed
	now  func() time.Time
	age  bool // a term is an Age field's: Match reads the clock
}

// Match reports whether the item matches every term.
func (f *Filter[T]) Match(item *T) bool {
	var now time.Time
	if f.age {
		now = f.clock()
	}
	for i := range f.terms {
		t := &f.terms[i]
		if t.match(item, now) == t.neg {
			return false
		}
	}
	return true
}

// WithClock returns the filter reading the time (for Age terms) from now
// instead of time.Now.
func (f Filter[T]) WithClock(now func() time.Time) Filter[T] {
	f.now = now
	return f
}

func (f *Filter[T]) clock() time.Time {
	if f.now != nil {
		return f.now()
	}
	return time.Now()
}

// Sort returns the canonical sort key a sort: term asked for, and
// whether descending; ok is false when the expression has none.
func (f Filter[T]) Sort() (key string, desc, ok bool) { return f.sortKey, f.sortDesc, f.hasSort }

// Expr is the expression without its sort terms: what selects items.
func (f Filter[T]) Expr() string { return f.expr }

// Empty reports whether the filter selects every item.
func (f Filter[T]) Empty() bool { return len(f.terms) == 0 }

// NeedsFacts reports whether a term reads inventory facts (an Inventory
// field): the engine loads its index before it evaluates such a filter.
func (f Filter[T]) NeedsFacts() bool {
	for _, t := range f.terms {
		if t.field != nil && t.field.Inventory {
			return true
		}
	}
	return false
}

// NamesSoftware reports whether the expression has an Apps term (not
// negated): an inventory query then shows the applications it names.
func (f Filter[T]) NamesSoftware() bool {
	for _, t := range f.terms {
		if t.field != nil && t.field.Kind == Apps && !t.neg {
			return true
		}
	}
	return false
}

// MatchingApps are the applications of fa that the filter's Apps terms
// (not negated) accept, with their qualifiers; every application when it
// has none. For rmm inventory query's software columns.
func (f Filter[T]) MatchingApps(fa *Facts) []App {
	if fa == nil {
		return nil
	}
	var apps []*term[T]
	for i := range f.terms {
		if t := &f.terms[i]; t.field != nil && t.field.Kind == Apps && !t.neg {
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

// FieldTerm is one field term of an expression: as typed ("!tag:prod")
// and its field's canonical name ("tag").
type FieldTerm struct {
	Term, Field string
}

// FieldTerms are the expression's field terms in order (free text is
// none), for callers that allow only some fields (a patch ring selects by
// what does not change from poll to poll).
func (f Filter[T]) FieldTerms() []FieldTerm {
	var out []FieldTerm
	for _, t := range f.terms {
		if t.field != nil {
			out = append(out, FieldTerm{Term: t.raw, Field: t.field.Names[0]})
		}
	}
	return out
}

// Nothing is the filter of a bad expression: it matches no item.
func Nothing[T any]() Filter[T] {
	return Filter[T]{terms: []term[T]{{free: true, neg: true}}}
}

// Parse reads expr with schema s. A term it cannot read is an *Error
// naming the term; the returned Filter then matches nothing.
func (s *Schema[T]) Parse(expr string) (Filter[T], error) {
	toks, err := tokenize(expr)
	if err != nil {
		return Nothing[T](), err
	}
	var f Filter[T]
	kept := make([]string, 0, len(toks))
	for _, tk := range toks {
		t, sortKey, err := parseTerm(s, tk)
		if err != nil {
			return Nothing[T](), err
		}
		switch {
		case sortKey != "":
			f.hasSort, f.sortKey, f.sortDesc = true, sortKey, t.neg
			continue
		case t.field != nil && t.field.Kind == Version:
			q := lastOf(f.terms, t.field.Qualifies)
			if q == nil {
				ex := s.field(t.field.Qualifies)
				return Nothing[T](), &Error{Term: tk.raw, Msg: t.field.Names[0] + " qualifies a " + t.field.Qualifies + ": term: put one before it, e.g. " +
					t.field.Qualifies + ":" + ex.Example + " " + t.field.Names[0] + "<" + t.field.Example}
			}
			q.vers = append(q.vers, t.vers...)
			kept = append(kept, tk.raw)
			continue
		}
		t.raw = tk.raw
		f.terms = append(f.terms, t)
		f.age = f.age || t.field != nil && t.field.Kind == Age
		kept = append(kept, tk.raw)
	}
	f.expr = strings.Join(kept, " ")
	return f, nil
}

// lastOf is the last term of the field named name, which a Version term
// qualifies.
func lastOf[T any](ts []term[T], name string) *term[T] {
	for i := len(ts) - 1; i >= 0; i-- {
		if ts[i].field != nil && ts[i].field.Names[0] == name {
			return &ts[i]
		}
	}
	return nil
}

// field finds a field by any of its names; nil when there is none.
func (s *Schema[T]) field(name string) *Field[T] {
	for i := range s.Fields {
		for _, n := range s.Fields[i].Names {
			if n == name {
				return &s.Fields[i]
			}
		}
	}
	return nil
}

// SortKey resolves a column name of s's SortKeys (ignoring case) to its
// canonical name; the error lists the columns.
func (s *Schema[T]) SortKey(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	canon := make([]string, 0, len(s.SortKeys))
	for _, names := range s.SortKeys {
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

// FieldList names a schema's fields for messages and help: "host, site,
// ..., sort".
func (s *Schema[T]) FieldList() string {
	names := make([]string, 0, len(s.Fields)+1)
	for _, f := range s.Fields {
		names = append(names, f.Names[0])
	}
	if len(s.SortKeys) > 0 {
		names = append(names, "sort")
	}
	return strings.Join(names, ", ")
}

func (t *term[T]) match(item *T, now time.Time) bool {
	if t.free {
		if t.freeText == nil {
			return true // Nothing's term: negated, it matches no item
		}
		return t.freeText(item, t.text)
	}
	f := t.field
	switch f.Kind {
	case Text, Prefix:
		has := ContainsFold
		if f.Kind == Prefix {
			has = HasPrefixFold
		}
		if t.op == OpEqual {
			return strings.EqualFold(f.Text(item), t.text) || f.Alt != nil && strings.EqualFold(f.Alt(item), t.text)
		}
		return has(f.Text(item), t.text) || f.Alt != nil && has(f.Alt(item), t.text)
	case Labels:
		for _, l := range f.Labels(item) {
			if t.prefix && HasPrefixFold(l, t.text) || !t.prefix && strings.EqualFold(l, t.text) {
				return true
			}
		}
		return false
	case Number:
		v, ok := f.Number(item)
		return ok && compare(v, t.op, t.num)
	case Age:
		start := f.Time(item)
		if start.IsZero() || now.Before(start) {
			return false
		}
		return compare(now.Sub(start).Seconds(), t.op, t.num)
	case State:
		return f.State(item) == t.want
	case Apps:
		fa := f.Facts(item)
		return t.anyIn(fa, fa.appIDs())
	case Services:
		fa := f.Facts(item)
		return t.anyIn(fa, fa.serviceIDs())
	case Hotfixes:
		fa := f.Facts(item)
		return fa.HasSoftware() && t.anyIn(fa, fa.hotfixes) != f.Missing
	}
	return false
}

func compare(v float64, op Op, n float64) bool {
	switch op {
	case OpLess:
		return v < n
	case OpLessEq:
		return v <= n
	case OpMore:
		return v > n
	case OpMoreEq:
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
func (t *term[T]) anyIn(fa *Facts, ids []uint32) bool {
	if fa == nil || len(ids) == 0 {
		return false
	}
	return t.set(fa.cat, ids[len(ids)-1]).anyOf(ids) // ids are sorted: the last is the largest
}

// set returns the term's bitset over cat covering id, computing it again
// when the catalog grew past the cached one (or is another catalog).
func (t *term[T]) set(cat *Catalog, id uint32) *bitset {
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
func (t *term[T]) bitset(cat *Catalog) *bitset {
	switch t.field.Kind {
	case Apps:
		versions := func(e *Entry) bool {
			for _, q := range t.vers {
				if q.accepts(e.Value) == q.neg {
					return false
				}
			}
			return true
		}
		if t.op == OpEqual {
			return newBitset(cat, KindApp, func(name string) bool { return strings.EqualFold(name, t.text) }, versions)
		}
		return newBitsetContaining(cat, KindApp, t.text, versions) // t.text is lower case
	case Services:
		return newBitset(cat, KindService, func(name string) bool {
			if t.prefix {
				return HasPrefixFold(name, t.text)
			}
			return strings.EqualFold(name, t.text)
		}, func(e *Entry) bool { return t.state == "" || HasPrefixFold(e.Value, t.state) })
	default: // Hotfixes
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
	if q.op == OpContains {
		p := strings.TrimSuffix(q.value, ".")
		return CompareVersions(v, p) == 0 || HasPrefixFold(v, p+".") || strings.EqualFold(v, p)
	}
	c := CompareVersions(v, q.value)
	switch q.op {
	case OpLess:
		return c < 0
	case OpLessEq:
		return c <= 0
	case OpMore:
		return c > 0
	case OpMoreEq:
		return c >= 0
	}
	return c == 0
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

// parseTerm reads one token. sortKey is set for a sort: term (t.neg is
// then descending).
func parseTerm[T any](s *Schema[T], tk token) (t term[T], sortKey string, err error) {
	str, raw := tk.text, tk.raw
	bad := func(msg string) (term[T], string, error) {
		return term[T]{}, "", &Error{Term: raw, Msg: msg}
	}
	free := func(text string) term[T] {
		t.free, t.text = true, text
		t.freeText = s.FreeText
		return t
	}
	quote := tk.quote
	if quote != 0 && len(str) > 0 && (str[0] == '!' || str[0] == '-') {
		t.neg = true
		str = str[1:]
		quote--
		if str == "" && quote < 0 {
			return bad("nothing after " + raw[:1] + " to negate")
		}
	}
	if quote == 0 { // "quoted text" is plain text, whatever it holds
		return free(str), "", nil
	}
	name, op, value, ok := splitField(str, quote)
	if !ok {
		return free(str), "", nil
	}
	if name == "sort" && len(s.SortKeys) > 0 {
		if t.neg {
			return bad("a sort cannot be negated (sort:-COLUMN sorts descending)")
		}
		if op != OpContains {
			return bad("write sort:COLUMN or sort:-COLUMN")
		}
		desc := strings.HasPrefix(value, "-")
		key, err := s.SortKey(strings.TrimLeft(value, "-+"))
		if err != nil {
			return bad(err.(*Error).Msg)
		}
		return term[T]{neg: desc}, key, nil
	}
	f := s.field(name)
	if f == nil {
		return bad("unknown field " + strconv.Quote(name) + " (fields: " + s.FieldList() + `; quote text that holds a colon: "a:b")`)
	}
	t.field = f
	if msg := t.read(name, op, value); msg != "" {
		return bad(msg)
	}
	return t, "", nil
}

// read reads a field term's operator and value into t; it returns what
// is wrong with them, "" when nothing is.
func (t *term[T]) read(name string, op Op, value string) string {
	f := t.field
	textOps := func(form string) string {
		if op != OpContains && op != OpEqual {
			return name + " is text: write " + form
		}
		return ""
	}
	switch f.Kind {
	case Number, Age:
		example, what := f.Example, "a number"
		if example == "" {
			example = "80"
		}
		if f.Kind == Age {
			what = "an age"
		}
		if op == OpContains {
			// cpu:>80 reads naturally too.
			o, rest := splitOp(value)
			if o == OpContains {
				return "compare with <, <=, >, >= or =, e.g. " + name + ">" + example
			}
			op, value = o, rest
		}
		t.op = op
		v := strings.TrimSuffix(strings.TrimSpace(value), "%")
		if v == "" {
			return "needs " + what + ", e.g. " + name + ">" + example
		}
		if f.Kind == Age {
			secs, err := parseAge(v)
			if err != nil {
				return err.Error()
			}
			t.num = secs
			return ""
		}
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return strconv.Quote(v) + " is not a number"
		}
		t.num = n
		return ""
	case Version:
		q := versionQual{op: op, value: strings.TrimSpace(value), neg: t.neg}
		if q.value == "" {
			return "needs a version, e.g. " + name + "<" + f.Example
		}
		t.vers = []versionQual{q}
		return ""
	case State:
		var words []string
		for _, v := range []Tri{Yes, No, Unknown} {
			if len(f.States[v]) > 0 {
				words = append(words, f.States[v][0])
			}
		}
		list := strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
		if op != OpContains && op != OpEqual {
			return "write " + name + ":" + strings.Join(words[:len(words)-1], ", "+name+":") + " or " + name + ":" + words[len(words)-1]
		}
		v := strings.ToLower(strings.TrimSpace(value))
		for want, ws := range f.States {
			for _, w := range ws {
				if v == w {
					t.want = Tri(want)
					return ""
				}
			}
		}
		return name + " is " + list
	case Apps:
		if msg := textOps(name + ":NAME or " + name + "=NAME"); msg != "" {
			return msg
		}
		if value == "" {
			return "needs an application name, e.g. " + name + ":" + strconv.Quote(f.Example)
		}
		t.op, t.text, t.sets = op, value, &setCache{}
		if op == OpContains {
			t.text = strings.ToLower(value)
		}
		return ""
	case Services:
		if op != OpContains && op != OpEqual {
			return "write " + name + ":NAME or " + name + ":NAME=STATE, e.g. " + name + ":" + f.Example
		}
		svc, state, _ := strings.Cut(value, "=")
		if svc = strings.TrimSpace(svc); svc == "" {
			return "needs a service name, e.g. " + name + ":" + f.Example
		}
		t.op, t.sets = OpContains, &setCache{}
		t.text, t.state = svc, strings.TrimSpace(state)
		if strings.HasSuffix(svc, "*") {
			t.prefix, t.text = true, strings.TrimSuffix(svc, "*")
		}
		return ""
	case Hotfixes:
		if op != OpContains && op != OpEqual {
			return "write " + name + ":" + f.Example
		}
		kb := NormalizeKB(value)
		if len(kb) < 3 || !strings.HasPrefix(kb, "KB") {
			return "needs a hotfix id, e.g. " + name + ":" + f.Example
		}
		t.text, t.sets = kb, &setCache{}
		return ""
	}
	if msg := textOps(name + ":VALUE or " + name + "=VALUE"); msg != "" {
		return msg
	}
	if value == "" {
		ex := f.Example
		if ex == "" {
			ex = "web"
		}
		return "needs a value, e.g. " + name + ":" + ex
	}
	t.op, t.text = op, value
	if f.Kind == Labels && strings.HasSuffix(value, "*") {
		t.prefix, t.text = true, strings.TrimSuffix(value, "*")
	}
	return ""
}

// parseAge reads an age: a number with a unit, d (the default), h, m or
// w, or a Go duration ("36h30m"), in seconds.
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

// splitField splits "name:value", "name>=value"... ok is false when s does
// not start with a field name (letters, _ and inner dots) followed by an
// operator outside quotes.
func splitField(s string, quote int) (name string, op Op, value string, ok bool) {
	i := 0
	for i < len(s) && (quote < 0 || i < quote) && (s[i] == '_' || i > 0 && s[i] == '.' || s[i] < 0x80 && unicode.IsLetter(rune(s[i]))) {
		i++
	}
	if i == 0 || i >= len(s) || (quote >= 0 && i >= quote) || s[i-1] == '.' {
		return "", 0, "", false
	}
	name = strings.ToLower(s[:i])
	if s[i] == ':' {
		return name, OpContains, s[i+1:], true
	}
	op, value = splitOp(s[i:])
	if op == OpContains {
		return "", 0, "", false
	}
	return name, op, value, true
}

// splitOp reads a comparison operator at the start of s.
func splitOp(s string) (Op, string) {
	switch {
	case strings.HasPrefix(s, ">="):
		return OpMoreEq, s[2:]
	case strings.HasPrefix(s, "<="):
		return OpLessEq, s[2:]
	case strings.HasPrefix(s, ">"):
		return OpMore, s[1:]
	case strings.HasPrefix(s, "<"):
		return OpLess, s[1:]
	case strings.HasPrefix(s, "="):
		return OpEqual, s[1:]
	}
	return OpContains, s
}
