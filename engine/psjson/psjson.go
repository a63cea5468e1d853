// Package psjson reads the JSON that Windows PowerShell 5.1's
// ConvertTo-Json writes: its dates, its unwrapped one-element arrays, and
// a reflection-free Scanner for the documents decoded on every poll. It
// knows nothing of rmm's scripts; engine/scripts and engine/winrm decode
// their documents with it.
package psjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Windows PowerShell 5.1's ConvertTo-Json has habits a plain decoder trips
// on. The types here accept each of them:
//   - DateTime as "\/Date(1764147600000)\/" (JSON-escaped slashes, unix
//     ms, sometimes with a +hhmm offset), or as an object {"value": ...,
//     "DateTime": "..."} when the value carried PowerShell note properties.
//   - An array with one element unwrapped into the bare element, and an
//     empty array as null.
//   - Enums as their numbers.

// PSDate is a DateTime as Windows PowerShell 5.1 serialises it.
type PSDate struct{ time.Time }

// errNotPSDate is a date text in none of the forms PSDate reads.
var errNotPSDate = errors.New("not a PowerShell date")

// UnmarshalJSON accepts "\/Date(ms)\/", an ISO 8601 string, an object with
// a "value" member (5.1 wrapping), or null.
func (d *PSDate) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		d.Time = time.Time{}
		return nil
	}
	if len(b) > 0 && b[0] == '{' {
		var w struct {
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(b, &w); err != nil {
			return fmt.Errorf("date object: %w", err)
		}
		if len(w.Value) == 0 {
			return fmt.Errorf("date object without a value member")
		}
		return d.UnmarshalJSON(w.Value)
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("date: %w", err)
	}
	t, err := parsePSDate(s)
	if err != nil {
		return fmt.Errorf("date %q: %w", s, err)
	}
	d.Time = t
	return nil
}

// parsePSDate reads the text of a date: "/Date(ms)/" with an optional
// +hhmm or -hhmm offset, or ISO 8601 with or without a zone. The result
// is in UTC.
func parsePSDate(s string) (time.Time, error) {
	if ms, ok := psDateMillis(s); ok {
		n, err := strconv.ParseInt(ms, 10, 64)
		if err != nil {
			return time.Time{}, err
		}
		// The milliseconds are UTC; the optional offset only says which
		// zone the value was displayed in.
		return time.UnixMilli(n).UTC(), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errNotPSDate
}

// psDateMillis matches s against ^/Date\((-?[0-9]+)([+-][0-9]{4})?\)/$
// and returns the signed milliseconds.
func psDateMillis(s string) (string, bool) {
	rest, ok := strings.CutPrefix(s, "/Date(")
	if !ok {
		return "", false
	}
	rest, ok = strings.CutSuffix(rest, ")/")
	if !ok {
		return "", false
	}
	i := 0
	if i < len(rest) && rest[i] == '-' {
		i++
	}
	digits := i
	for i < len(rest) && isDigit(rest[i]) {
		i++
	}
	if i == digits {
		return "", false
	}
	ms := rest[:i]
	if i == len(rest) {
		return ms, true
	}
	if off := rest[i:]; len(off) == 5 && (off[0] == '+' || off[0] == '-') &&
		isDigit(off[1]) && isDigit(off[2]) && isDigit(off[3]) && isDigit(off[4]) {
		return ms, true
	}
	return "", false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// MarshalJSON writes the time as RFC 3339 in UTC, or null when it is zero
// (an absent date), so stored documents read back as they were.
func (d PSDate) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + d.UTC().Format(time.RFC3339Nano) + `"`), nil
}

// List is a JSON array that Windows PowerShell 5.1 may have unwrapped into
// a single element (or written as null when empty).
type List[T any] []T

// UnmarshalJSON accepts an array, a single element, or null.
func (l *List[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*l = nil
		return nil
	case len(b) > 0 && b[0] == '[':
		var items []T
		if err := json.Unmarshal(b, &items); err != nil {
			return err
		}
		*l = items
		return nil
	default:
		var one T
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*l = List[T]{one}
		return nil
	}
}

// Scanner reads the documents decoded on every poll (the resident loop's
// answer, the metrics document) without reflection. It reads the shapes
// those documents have, with the meaning encoding/json gives them (a null
// leaves a string or number as it was, unknown members are skipped, an
// invalid UTF-8 byte or lone surrogate becomes U+FFFD). On anything else
// (invalid JSON, a value of another type, a number out of range, a key
// with escapes or equal to a field's name but for case, a date object,
// nesting deeper than scannerMaxDepth) it reports false, and the caller
// decodes the document again with encoding/json, whose result or error
// then stands. FuzzParseMetrics and FuzzParseFrame check that what it
// accepts decodes as encoding/json decodes it.
type Scanner struct {
	b     []byte
	i     int // next byte to read
	depth int // objects and arrays open
}

// scannerMaxDepth bounds nesting: deeper documents go to encoding/json,
// which has its own bound.
const scannerMaxDepth = 64

// NewScanner returns a Scanner over one JSON document.
func NewScanner(doc []byte) *Scanner { return &Scanner{b: doc} }

// peek skips white space and returns the next byte, 0 at the end.
func (s *Scanner) peek() byte {
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; c {
		case ' ', '\t', '\n', '\r':
		default:
			return c
		}
	}
	return 0
}

// eat consumes c if it comes next.
func (s *Scanner) eat(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// End reports whether only white space is left.
func (s *Scanner) End() bool {
	s.peek()
	return s.i == len(s.b)
}

// word consumes a literal: null, true or false.
func (s *Scanner) word(w string) bool {
	if s.peek() != w[0] || len(s.b)-s.i < len(w) || string(s.b[s.i:s.i+len(w)]) != w {
		return false
	}
	s.i += len(w)
	return true
}

// Null consumes a null if it comes next.
func (s *Scanner) Null() bool { return s.peek() == 'n' && s.word("null") }

// str consumes a string and returns what is between its quotes and
// whether that holds an escape.
func (s *Scanner) str() (raw []byte, escaped, ok bool) {
	if s.peek() != '"' {
		return nil, false, false
	}
	b := s.b
	for i := s.i + 1; i < len(b); i++ {
		for i < len(b) && b[i] >= 0x20 && b[i] != '"' && b[i] != '\\' {
			i++ // the bulk of a string
		}
		if i == len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			raw = b[s.i+1 : i]
			s.i = i + 1
			return raw, escaped, true
		case c == '\\':
			escaped = true
			if i++; i == len(b) {
				return nil, false, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i <= 4 || hex4(b[i+1:i+5]) < 0 {
					return nil, false, false
				}
				i += 4
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		}
	}
	return nil, false, false
}

// hex4 decodes four hex digits, or returns -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unquote returns the text of a string that str read, as encoding/json
// decodes it.
func unquote(raw []byte, escaped bool) string {
	if !escaped && utf8.Valid(raw) {
		return string(raw)
	}
	var sb strings.Builder
	sb.Grow(len(raw))
	start := 0 // raw[start:i] is still to be written as it is
	for i := 0; i < len(raw); {
		c := raw[i]
		if c >= utf8.RuneSelf {
			if r, size := utf8.DecodeRune(raw[i:]); r != utf8.RuneError || size != 1 {
				i += size // valid UTF-8, kept as it is
				continue
			}
			sb.Write(raw[start:i])
			sb.WriteRune(utf8.RuneError)
			i++
			start = i
			continue
		}
		if c != '\\' {
			i++
			continue
		}
		sb.Write(raw[start:i])
		c = raw[i+1]
		i += 2
		start = i
		switch c {
		case '"', '\\', '/':
			start = i - 1 // written with the bytes that follow
		case 'u':
			r := hex4(raw[i:])
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if len(raw)-i >= 6 && raw[i] == '\\' && raw[i+1] == 'u' {
					r2 = hex4(raw[i+2:])
				}
				if r = utf16.DecodeRune(r, r2); r != utf8.RuneError {
					i += 6 // a valid pair
				}
			}
			sb.WriteRune(r)
			start = i
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		}
	}
	sb.Write(raw[start:])
	return sb.String()
}

// number consumes a number and returns its text.
func (s *Scanner) number() ([]byte, bool) {
	s.peek()
	b, i := s.b, s.i
	digits := func() int {
		n := 0
		for ; i < len(b) && isDigit(b[i]); i++ {
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		if i++; digits() == 0 {
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return nil, false
		}
	}
	num := b[s.i:i]
	s.i = i
	return num, true
}

// Object reads an object: member gets each key (without escapes) with
// the scanner at its value, reads the value and reports whether it could.
func (s *Scanner) Object(member func(key []byte) bool) bool {
	if !s.eat('{') {
		return false
	}
	if s.depth++; s.depth > scannerMaxDepth {
		return false
	}
	if !s.eat('}') {
		for {
			key, escaped, ok := s.str()
			if !ok || escaped || !s.eat(':') || !member(key) {
				return false
			}
			if s.eat('}') {
				break
			}
			if !s.eat(',') {
				return false
			}
		}
	}
	s.depth--
	return true
}

// Array reads an array: elem reads each element and reports whether it
// could.
func (s *Scanner) Array(elem func() bool) bool {
	if !s.eat('[') {
		return false
	}
	if s.depth++; s.depth > scannerMaxDepth {
		return false
	}
	if !s.eat(']') {
		for {
			if !elem() {
				return false
			}
			if s.eat(']') {
				break
			}
			if !s.eat(',') {
				return false
			}
		}
	}
	s.depth--
	return true
}

// Skip reads any value.
func (s *Scanner) Skip() bool {
	switch s.peek() {
	case '"':
		_, _, ok := s.str()
		return ok
	case '{':
		return s.Object(func([]byte) bool { return s.Skip() })
	case '[':
		return s.Array(s.Skip)
	case 't':
		return s.word("true")
	case 'f':
		return s.word("false")
	case 'n':
		return s.word("null")
	}
	_, ok := s.number()
	return ok
}

// Other skips the value of a member that is none of the fields. A key
// that equals one of them but for case (encoding/json would fill that
// field), or has a non-ASCII byte (which may fold to ASCII), is refused.
func (s *Scanner) Other(key []byte, fields ...string) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	for _, f := range fields {
		if bytes.EqualFold(key, []byte(f)) {
			return false
		}
	}
	return s.Skip()
}

// String reads a string into v; a null leaves v as it was.
func (s *Scanner) String(v *string) bool {
	if s.Null() {
		return true
	}
	raw, escaped, ok := s.str()
	if ok {
		*v = unquote(raw, escaped)
	}
	return ok
}

// StringEq reads a string into v like String, and when it is exactly
// want (no escapes) stores want itself, without a copy: the loop's answer
// carries the request id asked for.
func (s *Scanner) StringEq(v *string, want string) bool {
	at := s.i
	if raw, escaped, ok := s.str(); ok && !escaped && string(raw) == want {
		*v = want
		return true
	}
	s.i = at
	return s.String(v)
}

// Float reads a number into v; a null leaves v as it was.
func (s *Scanner) Float(v *float64) bool {
	if s.Null() {
		return true
	}
	num, ok := s.number()
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil {
		return false
	}
	*v = f
	return true
}

// ScanInt reads an integer into v; a null leaves v as it was.
func ScanInt[T int | int64](s *Scanner, v *T) bool {
	if s.Null() {
		return true
	}
	num, ok := s.number()
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil || int64(T(n)) != n {
		return false
	}
	*v = T(n)
	return true
}

// Int64Ptr reads an integer or null (nil) into v.
func (s *Scanner) Int64Ptr(v **int64) bool {
	if s.Null() {
		*v = nil
		return true
	}
	var n int64
	if !ScanInt(s, &n) {
		return false
	}
	*v = &n
	return true
}

// BoolPtr reads true, false or null (nil) into v.
func (s *Scanner) BoolPtr(v **bool) bool {
	var b bool
	switch {
	case s.Null():
		*v = nil
		return true
	case s.word("true"):
		b = true
	case !s.word("false"):
		return false
	}
	*v = &b
	return true
}

// Date reads a date string or null (zero) into d; a date object is left
// to encoding/json.
func (s *Scanner) Date(d *PSDate) bool {
	if s.Null() {
		d.Time = time.Time{}
		return true
	}
	raw, escaped, ok := s.str()
	if !ok {
		return false
	}
	t, err := parsePSDate(unquote(raw, escaped))
	if err != nil {
		return false
	}
	d.Time = t
	return true
}

// ScanList reads an array of elements, a bare element (5.1 unwrapped a
// one-element array) or null into l.
func ScanList[T any](s *Scanner, l *List[T], elem func() (T, bool)) bool {
	switch s.peek() {
	case 'n':
		if !s.word("null") {
			return false
		}
		*l = nil
		return true
	case '[':
		items := List[T]{} // encoding/json makes [] an empty list, not nil
		if !s.Array(func() bool {
			v, ok := elem()
			if !ok {
				return false
			}
			if len(items) == 0 {
				items = make(List[T], 0, 4) // most lists are short: one allocation
			}
			items = append(items, v)
			return true
		}) {
			return false
		}
		*l = items
		return true
	}
	v, ok := elem()
	if ok {
		*l = List[T]{v}
	}
	return ok
}
