// Package filter is rmm's filter grammar, the one the console's "/"
// filter, saved views and the command line's --filter read: terms
// separated by spaces, all of which an item must match.
//
//	web                free text: a case-insensitive substring of the
//	                   item's texts (Schema.FreeText)
//	host:web           field contains the text (host=web: the whole field)
//	status:off         a prefix field starts with the text
//	tag:sql  tag:sql*  a label equal to "sql", or starting with it
//	cpu>80 mem>=90     comparisons of numbers (<, <=, >, >=, =); an item
//	                   without the number matches no comparison
//	!tag:prod -status:online
//	                   ! or - before a term negates it
//	"new york"         quotes keep spaces, and make a term plain text
//	sort:cpu sort:-cpu the order to show (- for descending); it selects
//	                   nothing (Filter.Sort)
//
// What the fields are is a Schema's: the engine has one for devices
// (engine.ParseDeviceFilter) and one for alerts. The package knows no
// item type: it must not import the engine, which imports it.
package filter

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
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
	prefix   bool   // a Labels value that ended in *
	num      float64
}

// Filter is a parsed expression. The zero value matches every item. A
// Filter is immutable and safe to share.
type Filter[T any] struct {
	terms []term[T]

	hasSort  bool
	sortKey  string
	sortDesc bool

	expr string // the expression without its sort terms, as typed
}

// Match reports whether the item matches every term.
func (f *Filter[T]) Match(item *T) bool {
	for i := range f.terms {
		if f.terms[i].match(item) == f.terms[i].neg {
			return false
		}
	}
	return true
}

// Sort returns the canonical sort key a sort: term asked for, and
// whether descending; ok is false when the expression has none.
func (f Filter[T]) Sort() (key string, desc, ok bool) { return f.sortKey, f.sortDesc, f.hasSort }

// Expr is the expression without its sort terms: what selects items.
func (f Filter[T]) Expr() string { return f.expr }

// Empty reports whether the filter selects every item.
func (f Filter[T]) Empty() bool { return len(f.terms) == 0 }

// Nothing is the filter of a bad expression: it matches no item.
func Nothing[T any]() Filter[T] {
	return Filter[T]{terms: []term[T]{{free: true, neg: true}}}
}

// Parse reads expr with schema s. A term it cannot read is an *Error
// naming the term; the returned Filter then matches nothing.
func Parse[T any](s *Schema[T], expr string) (Filter[T], error) {
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
		if sortKey != "" {
			f.hasSort, f.sortKey, f.sortDesc = true, sortKey, t.neg
			continue
		}
		f.terms = append(f.terms, t)
		kept = append(kept, tk.raw)
	}
	f.expr = strings.Join(kept, " ")
	return f, nil
}

// SortKey resolves a column name of s's SortKeys (ignoring case) to its
// canonical name; the error lists the columns.
func SortKey[T any](s *Schema[T], name string) (string, error) {
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
func FieldList[T any](s *Schema[T]) string {
	names := make([]string, 0, len(s.Fields)+1)
	for _, f := range s.Fields {
		names = append(names, f.Names[0])
	}
	if len(s.SortKeys) > 0 {
		names = append(names, "sort")
	}
	return strings.Join(names, ", ")
}

func (t *term[T]) match(item *T) bool {
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
		if !ok {
			return false
		}
		switch t.op {
		case OpLess:
			return v < t.num
		case OpLessEq:
			return v <= t.num
		case OpMore:
			return v > t.num
		case OpMoreEq:
			return v >= t.num
		}
		return v == t.num
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
		key, err := SortKey(s, strings.TrimLeft(value, "-+"))
		if err != nil {
			return bad(err.(*Error).Msg)
		}
		return term[T]{neg: desc}, key, nil
	}
	var f *Field[T]
	for i := range s.Fields {
		for _, n := range s.Fields[i].Names {
			if n == name {
				f = &s.Fields[i]
			}
		}
	}
	if f == nil {
		return bad("unknown field " + strconv.Quote(name) + " (fields: " + FieldList(s) + `; quote text that holds a colon: "a:b")`)
	}
	t.field = f
	if f.Kind == Number {
		if op == OpContains {
			// cpu:>80 reads naturally too.
			if o, rest := splitOp(value); o != OpContains {
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
		return t, "", nil
	}
	switch op {
	case OpContains, OpEqual:
	default:
		return bad(name + " is text: write " + name + ":VALUE or " + name + "=VALUE")
	}
	if value == "" {
		ex := f.Example
		if ex == "" {
			ex = "web"
		}
		return bad("needs a value, e.g. " + name + ":" + ex)
	}
	t.op, t.text = op, value
	if f.Kind == Labels && strings.HasSuffix(value, "*") {
		t.prefix, t.text = true, strings.TrimSuffix(value, "*")
	}
	return t, "", nil
}

// splitField splits "name:value", "name>=value"... ok is false when s does
// not start with a field name (letters and _) followed by an operator
// outside quotes.
func splitField(s string, quote int) (name string, op Op, value string, ok bool) {
	i := 0
	for i < len(s) && (quote < 0 || i < quote) && (s[i] == '_' || s[i] < 0x80 && unicode.IsLetter(rune(s[i]))) {
		i++
	}
	if i == 0 || i >= len(s) || (quote >= 0 && i >= quote) {
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

// ContainsFold is a case-insensitive strings.Contains that does not
// allocate for ASCII, which hostnames and sites almost always are: a
// filter runs over every item on every keystroke.
func ContainsFold(s, sub string) bool {
	if len(sub) == 0 {
		return true
	}
	if !isASCII(s) || !isASCII(sub) {
		return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
	}
	n := len(sub)
outer:
	for i := 0; i+n <= len(s); i++ {
		for j := 0; j < n; j++ {
			if lowerASCII(s[i+j]) != lowerASCII(sub[j]) {
				continue outer
			}
		}
		return true
	}
	return false
}

// HasPrefixFold is strings.HasPrefix ignoring case.
func HasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func lowerASCII(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}
