package ui

import (
	"cmp"
	"strconv"
	"strings"
	"unicode"

	"github.com/rmmhq/rmm/engine"
)

// Filter is a parsed filter expression (see ParseFilter). The zero value
// matches every device. A Filter is immutable and safe to share.
type Filter struct {
	terms []term

	hasSort  bool
	sortBy   Column
	sortDesc bool

	expr string // the expression without its sort terms, as typed
}

// FilterError is a term ParseFilter could not read.
type FilterError struct {
	Term string // the term as typed, e.g. "cpu>abc"
	Msg  string // what is wrong with it
}

// Error is "term: what is wrong", e.g. `cpu>abc: "abc" is not a number`.
func (e *FilterError) Error() string { return e.Term + ": " + e.Msg }

type termKind uint8

const (
	termText   termKind = iota // free text: hostname, site, status, OS, tags
	termHost                   // host:
	termSite                   // site:
	termStatus                 // status:
	termOS                     // os:
	termTag                    // tag:
	termGroup                  // group:
	termMetric                 // cpu, mem, disk comparisons
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

type term struct {
	kind   termKind
	neg    bool
	op     cmpOp
	text   string // the value; matching folds case
	prefix bool   // tag:sql* and group:fin*: the value is a prefix
	metric Column // ColCPU, ColMem or ColDisk
	num    float64
}

// filterFields are the field names a term may start with, for error
// messages and the help.
const filterFields = "host, site, status, os, tag, group, cpu, mem, disk, sort"

// ParseFilter reads a filter expression: terms separated by spaces, all
// of which a device must match.
//
//	web                free text: a case-insensitive substring of the
//	                   hostname, site, status, OS edition ("Server 2019
//	                   Datacenter", without "Microsoft Windows") or
//	                   version, or a tag
//	host:web           substring of the hostname
//	site:lon           substring of the site (site=London: the whole site)
//	status:off         status starting with "off" (status=offline: exactly)
//	os:2016            substring of the OS name or version
//	tag:sql  tag:sql*  a tag equal to "sql", or starting with it
//	group:finance      a group, like tag:
//	cpu>80 mem>=90     comparisons of the latest metrics (<, <=, >, >=, =);
//	disk<10            disk is the lowest free % of the fixed volumes; a
//	                   device without metrics matches no comparison
//	!tag:prod -status:online
//	                   ! or - before a term negates it
//	"new york"         quotes keep spaces, and make a term plain text
//	sort:cpu sort:-cpu the order to show (- for descending); it selects
//	                   nothing (see Filter.Sort)
//
// A term it cannot read is a *FilterError naming the term; the returned
// Filter then matches nothing.
func ParseFilter(expr string) (Filter, error) {
	toks, err := tokenize(expr)
	if err != nil {
		return nothing(), err
	}
	var f Filter
	kept := make([]string, 0, len(toks))
	for _, tk := range toks {
		t, isSort, err := parseTerm(tk)
		if err != nil {
			return nothing(), err
		}
		if isSort {
			f.hasSort, f.sortBy, f.sortDesc = true, t.metric, t.neg
			continue
		}
		f.terms = append(f.terms, t)
		kept = append(kept, tk.raw)
	}
	f.expr = strings.Join(kept, " ")
	return f, nil
}

// nothing is the filter of a bad expression: it matches no device.
func nothing() Filter {
	return Filter{terms: []term{{kind: termText, neg: true}}}
}

// Match reports whether the device matches every term of the filter.
func (f Filter) Match(d engine.DeviceState) bool { return f.match(&d) }

// match is Match without copying the device, for the grid's hot loop.
func (f *Filter) match(d *engine.DeviceState) bool {
	for i := range f.terms {
		if f.terms[i].match(d) == f.terms[i].neg {
			return false
		}
	}
	return true
}

// Sort returns the order a sort: term asked for; ok is false when the
// expression has none.
func (f Filter) Sort() (by Column, desc, ok bool) { return f.sortBy, f.sortDesc, f.hasSort }

// Expr is the expression without its sort terms: what selects devices.
func (f Filter) Expr() string { return f.expr }

// Empty reports whether the filter selects every device.
func (f Filter) Empty() bool { return len(f.terms) == 0 }

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

func (t *term) match(d *engine.DeviceState) bool {
	switch t.kind {
	case termText:
		if containsFold(d.Hostname, t.text) || containsFold(d.Site, t.text) ||
			containsFold(string(d.Status), t.text) || containsFold(osEdition(d.OSName), t.text) ||
			containsFold(d.OSVersion, t.text) {
			return true
		}
		for _, tag := range d.Tags {
			if containsFold(tag, t.text) {
				return true
			}
		}
		return false
	case termHost:
		return t.textMatch(d.Hostname, containsFold)
	case termSite:
		return t.textMatch(d.Site, containsFold)
	case termStatus:
		return t.textMatch(string(d.Status), hasPrefixFold)
	case termOS:
		if t.op == opEqual {
			return strings.EqualFold(d.OSName, t.text) || strings.EqualFold(d.OSVersion, t.text)
		}
		return containsFold(d.OSName, t.text) || containsFold(d.OSVersion, t.text)
	case termTag:
		return t.labelMatch(d.Tags)
	case termGroup:
		return t.labelMatch(d.Groups)
	case termMetric:
		if !d.HasMetrics {
			return false
		}
		v := metric(d, t.metric)
		switch t.op {
		case opLess:
			return v < t.num
		case opLessEq:
			return v <= t.num
		case opMore:
			return v > t.num
		case opMoreEq:
			return v >= t.num
		}
		return v == t.num
	}
	return false
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

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
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
			return nil, &FilterError{Term: s[start:i], Msg: "unterminated quote"}
		}
		out = append(out, token{raw: s[start:i], text: b.String(), quote: quote})
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// parseTerm reads one token. isSort is true for a sort: term, returned in
// t.metric (the column) and t.neg (descending).
func parseTerm(tk token) (t term, isSort bool, err error) {
	s, raw := tk.text, tk.raw
	bad := func(msg string) (term, bool, error) {
		return term{}, false, &FilterError{Term: raw, Msg: msg}
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
		return t, false, nil
	}
	name, op, value, ok := splitField(s, quote)
	if !ok {
		t.kind, t.text = termText, s
		return t, false, nil
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
			return bad(err.(*FilterError).Msg)
		}
		return term{metric: col, neg: desc}, true, nil
	case "cpu", "mem", "memory", "disk":
		t.kind = termMetric
		t.metric = map[string]Column{"cpu": ColCPU, "mem": ColMem, "memory": ColMem, "disk": ColDisk}[name]
		if op == opContains {
			// cpu:>80 reads naturally too.
			if o, rest := splitOp(value); o != opContains {
				op, value = o, rest
			} else {
				return bad("compare with <, <=, >, >= or =, e.g. " + name + ">80")
			}
		}
		t.op = op
		v := strings.TrimSuffix(strings.TrimSpace(value), "%")
		if v == "" {
			return bad("needs a number, e.g. " + name + ">80")
		}
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return bad(strconv.Quote(v) + " is not a number")
		}
		t.num = n
		return t, false, nil
	}
	kinds := map[string]termKind{
		"host": termHost, "hostname": termHost, "name": termHost,
		"site": termSite, "status": termStatus, "os": termOS,
		"tag": termTag, "tags": termTag, "group": termGroup, "groups": termGroup,
	}
	kind, known := kinds[name]
	if !known {
		return bad("unknown field " + strconv.Quote(name) + " (fields: " + filterFields + `; quote text that holds a colon: "a:b")`)
	}
	switch op {
	case opContains, opEqual:
	default:
		return bad(name + " is text: write " + name + ":VALUE or " + name + "=VALUE")
	}
	if value == "" {
		return bad("needs a value, e.g. " + name + ":" + fieldExample(kind))
	}
	t.kind, t.op, t.text = kind, op, value
	if (kind == termTag || kind == termGroup) && strings.HasSuffix(value, "*") {
		t.prefix, t.text = true, strings.TrimSuffix(value, "*")
	}
	return t, false, nil
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
// not start with a field name (letters and _) followed by an operator
// outside quotes.
func splitField(s string, quote int) (name string, op cmpOp, value string, ok bool) {
	i := 0
	for i < len(s) && (quote < 0 || i < quote) && (s[i] == '_' || s[i] < 0x80 && unicode.IsLetter(rune(s[i]))) {
		i++
	}
	if i == 0 || i >= len(s) || (quote >= 0 && i >= quote) {
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

// columnNames are the names ParseColumn accepts, canonical name first.
func columnNames() [][]string {
	return [][]string{
		ColHostname: {"hostname", "host", "name"},
		ColSite:     {"site"},
		ColStatus:   {"status"},
		ColCPU:      {"cpu"},
		ColMem:      {"mem", "memory"},
		ColDisk:     {"disk", "disk_free"},
		ColLastSeen: {"last_seen", "seen", "lastseen"},
		ColOS:       {"os"},
	}
}

// Name is the column's name in commands and filters: "cpu", "last_seen".
func (c Column) Name() string {
	if names := columnNames(); int(c) >= 0 && int(c) < len(names) {
		return names[c][0]
	}
	return "?"
}

// ParseColumn reads a column name as :sort and sort: take it ("cpu",
// "last_seen", "host"...), ignoring case.
func ParseColumn(name string) (Column, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	canon := make([]string, 0, numColumns)
	for c, names := range columnNames() {
		for _, alias := range names {
			if n == alias {
				return Column(c), nil
			}
		}
		canon = append(canon, names[0])
	}
	if n == "" {
		return 0, &FilterError{Term: name, Msg: "missing column (columns: " + strings.Join(canon, ", ") + ")"}
	}
	return 0, &FilterError{Term: name, Msg: "unknown column (columns: " + strings.Join(canon, ", ") + ")"}
}

// compareOS orders by OS name then version, naturally.
func compareOS(a, b *engine.DeviceState) int {
	return cmp.Or(NaturalCompare(a.OSName, b.OSName), NaturalCompare(a.OSVersion, b.OSVersion))
}
