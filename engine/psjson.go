package engine

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

// DiskMetrics is one fixed volume in the metrics script's output.
type DiskMetrics struct {
	Drive   string  `json:"drive"`
	SizeGB  float64 `json:"size_gb"`
	FreeGB  float64 `json:"free_gb"`
	FreePct float64 `json:"free_pct"`
}

// ServiceState is one watched service in the metrics script's output:
// its state as Win32_Service says (Running, Stopped...), or Missing.
type ServiceState struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// HostMetrics is the metrics script's JSON document. The fields after
// Disks came with metrics v2; a v1 host leaves them zero (nil).
type HostMetrics struct {
	Hostname      string             `json:"hostname"`
	CPUPct        float64            `json:"cpu_pct"`
	MemPct        float64            `json:"mem_pct"`
	MemTotalMB    float64            `json:"mem_total_mb"`
	LastBoot      PSDate             `json:"last_boot"`
	Disks         List[DiskMetrics]  `json:"disks"`
	DiskQueue     float64            `json:"disk_queue"`     // current disk queue length, all physical disks
	NetErrors     *int64             `json:"net_errors"`     // packets in and out with errors since boot, all interfaces
	PendingReboot *bool              `json:"pending_reboot"` // the servicing or Windows Update reboot key exists
	Services      List[ServiceState] `json:"services"`       // the watched services the engine asked about
}

// MinDiskFreePct is the lowest free % over the fixed volumes, or 100 when
// the host reported none.
func (m HostMetrics) MinDiskFreePct() float64 {
	if len(m.Disks) == 0 {
		return 100
	}
	low := m.Disks[0].FreePct
	for _, d := range m.Disks[1:] {
		low = min(low, d.FreePct)
	}
	return low
}

// maxMetricsBytes bounds the metrics document: a few hundred bytes, a few
// kilobytes pretty-printed with many watched services.
const maxMetricsBytes = 1 << 20

// ParseMetrics decodes the metrics script's stdout. PowerShell may print
// blank lines or a BOM around the document; they are ignored.
func ParseMetrics(stdout []byte) (HostMetrics, error) {
	doc := bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(stdout), []byte("\xef\xbb\xbf")))
	if len(doc) == 0 {
		return HostMetrics{}, fmt.Errorf("metrics: empty output")
	}
	if len(doc) > maxMetricsBytes {
		return HostMetrics{}, fmt.Errorf("metrics: %d bytes of output, more than the %d a metrics document may have", len(doc), maxMetricsBytes)
	}
	m, ok := scanMetrics(doc)
	if !ok {
		var slow HostMetrics // its own variable: only this path allocates it
		if err := json.Unmarshal(doc, &slow); err != nil {
			return HostMetrics{}, fmt.Errorf("metrics: %w", err)
		}
		m = slow
	}
	for _, v := range []struct {
		name string
		val  float64
	}{{"cpu_pct", m.CPUPct}, {"mem_pct", m.MemPct}} {
		if v.val < 0 || v.val > 100 {
			return HostMetrics{}, fmt.Errorf("metrics: %s %v out of range 0..100", v.name, v.val)
		}
	}
	return m, nil
}

// scanMetrics reads the metrics document with jsonScan; false means
// encoding/json must read it.
func scanMetrics(doc []byte) (m HostMetrics, ok bool) {
	s := &jsonScan{b: doc}
	ok = s.object(func(key []byte) bool {
		switch string(key) {
		case "hostname":
			return s.string(&m.Hostname)
		case "cpu_pct":
			return s.float(&m.CPUPct)
		case "mem_pct":
			return s.float(&m.MemPct)
		case "mem_total_mb":
			return s.float(&m.MemTotalMB)
		case "last_boot":
			return s.date(&m.LastBoot)
		case "disks":
			return scanList(s, &m.Disks, func() (DiskMetrics, bool) { return scanDisk(s) })
		case "disk_queue":
			return s.float(&m.DiskQueue)
		case "net_errors":
			return s.int64Ptr(&m.NetErrors)
		case "pending_reboot":
			return s.boolPtr(&m.PendingReboot)
		case "services":
			return scanList(s, &m.Services, func() (ServiceState, bool) { return scanService(s) })
		}
		return s.other(key, "hostname", "cpu_pct", "mem_pct", "mem_total_mb", "last_boot", "disks",
			"disk_queue", "net_errors", "pending_reboot", "services")
	})
	return m, ok && s.end()
}

func scanDisk(s *jsonScan) (d DiskMetrics, ok bool) {
	if s.null() {
		return d, true
	}
	ok = s.object(func(key []byte) bool {
		switch string(key) {
		case "drive":
			return s.string(&d.Drive)
		case "size_gb":
			return s.float(&d.SizeGB)
		case "free_gb":
			return s.float(&d.FreeGB)
		case "free_pct":
			return s.float(&d.FreePct)
		}
		return s.other(key, "drive", "size_gb", "free_gb", "free_pct")
	})
	return d, ok
}

func scanService(s *jsonScan) (v ServiceState, ok bool) {
	if s.null() {
		return v, true
	}
	ok = s.object(func(key []byte) bool {
		switch string(key) {
		case "name":
			return s.string(&v.Name)
		case "state":
			return s.string(&v.State)
		}
		return s.other(key, "name", "state")
	})
	return v, ok
}

// jsonScan reads the documents decoded on every poll (the resident loop's
// answer, the metrics document) without reflection. It reads the shapes
// those documents have, with the meaning encoding/json gives them (a null
// leaves a string or number as it was, unknown members are skipped, an
// invalid UTF-8 byte or lone surrogate becomes U+FFFD). On anything else
// (invalid JSON, a value of another type, a number out of range, a key
// with escapes or equal to a field's name but for case, a date object,
// nesting deeper than jsonScanMaxDepth) it reports false, and the caller
// decodes the document again with encoding/json, whose result or error
// then stands. FuzzParseMetrics and FuzzParseFrame check that what it
// accepts decodes as encoding/json decodes it.
type jsonScan struct {
	b     []byte
	i     int // next byte to read
	depth int // objects and arrays open
}

// jsonScanMaxDepth bounds nesting: deeper documents go to encoding/json,
// which has its own bound.
const jsonScanMaxDepth = 64

// peek skips white space and returns the next byte, 0 at the end.
func (s *jsonScan) peek() byte {
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
func (s *jsonScan) eat(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (s *jsonScan) end() bool {
	s.peek()
	return s.i == len(s.b)
}

// word consumes a literal: null, true or false.
func (s *jsonScan) word(w string) bool {
	if s.peek() != w[0] || len(s.b)-s.i < len(w) || string(s.b[s.i:s.i+len(w)]) != w {
		return false
	}
	s.i += len(w)
	return true
}

// null consumes a null if it comes next.
func (s *jsonScan) null() bool { return s.peek() == 'n' && s.word("null") }

// str consumes a string and returns what is between its quotes and
// whether that holds an escape.
func (s *jsonScan) str() (raw []byte, escaped, ok bool) {
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
func (s *jsonScan) number() ([]byte, bool) {
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

// object reads an object: member gets each key (without escapes) with
// the scanner at its value, reads the value and reports whether it could.
func (s *jsonScan) object(member func(key []byte) bool) bool {
	if !s.eat('{') {
		return false
	}
	if s.depth++; s.depth > jsonScanMaxDepth {
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

// array reads an array: elem reads each element and reports whether it
// could.
func (s *jsonScan) array(elem func() bool) bool {
	if !s.eat('[') {
		return false
	}
	if s.depth++; s.depth > jsonScanMaxDepth {
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

// skip reads any value.
func (s *jsonScan) skip() bool {
	switch s.peek() {
	case '"':
		_, _, ok := s.str()
		return ok
	case '{':
		return s.object(func([]byte) bool { return s.skip() })
	case '[':
		return s.array(s.skip)
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

// other skips the value of a member that is none of the fields. A key
// that equals one of them but for case (encoding/json would fill that
// field), or has a non-ASCII byte (which may fold to ASCII), is refused.
func (s *jsonScan) other(key []byte, fields ...string) bool {
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
	return s.skip()
}

// string reads a string into v; a null leaves v as it was.
func (s *jsonScan) string(v *string) bool {
	if s.null() {
		return true
	}
	raw, escaped, ok := s.str()
	if ok {
		*v = unquote(raw, escaped)
	}
	return ok
}

// float reads a number into v; a null leaves v as it was.
func (s *jsonScan) float(v *float64) bool {
	if s.null() {
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

// scanInt reads an integer into v; a null leaves v as it was.
func scanInt[T int | int64](s *jsonScan, v *T) bool {
	if s.null() {
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

// int64Ptr reads an integer or null (nil) into v.
func (s *jsonScan) int64Ptr(v **int64) bool {
	if s.null() {
		*v = nil
		return true
	}
	var n int64
	if !scanInt(s, &n) {
		return false
	}
	*v = &n
	return true
}

// boolPtr reads true, false or null (nil) into v.
func (s *jsonScan) boolPtr(v **bool) bool {
	var b bool
	switch {
	case s.null():
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

// date reads a date string or null (zero) into d; a date object is left
// to encoding/json.
func (s *jsonScan) date(d *PSDate) bool {
	if s.null() {
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

// scanList reads an array of elements, a bare element (5.1 unwrapped a
// one-element array) or null into l.
func scanList[T any](s *jsonScan, l *List[T], elem func() (T, bool)) bool {
	switch s.peek() {
	case 'n':
		if !s.word("null") {
			return false
		}
		*l = nil
		return true
	case '[':
		items := List[T]{} // encoding/json makes [] an empty list, not nil
		if !s.array(func() bool {
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
