// Package csvimport turns a device CSV (what `rmm import FILE.csv` reads)
// into store.DeviceInput rows and imports them. It owns the file format:
// header aliases, list and custom columns, encoding checks and the
// per-row validation that names file, line and column for every problem.
//
// It must not touch the database except through store.DB.UpsertDevices,
// must not import part of a file unless the caller asked for it
// (Options.SkipInvalid), and must not resolve names or contact devices:
// checking that a host answers is the engine's job.
package csvimport

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rmmhq/rmm/store"
)

// Row is one valid data row of the file.
type Row struct {
	Line   int // physical line where the record starts (the header is line 1)
	Device store.DeviceInput
}

// Options tunes Import.
type Options struct {
	// SkipInvalid imports the valid rows of a file that has invalid ones
	// (counted in ImportResult.Skipped) instead of importing nothing.
	SkipInvalid bool
}

// Problem is one thing wrong with the file, located by line and column.
type Problem struct {
	File   string // the name given to Parse or Import
	Line   int    // physical line, 1-based
	Field  string // the column as named in the header, or what is wrong (header, encoding)
	Reason string
}

// Error formats the problem as "FILE:LINE: field: reason", in ASCII: a
// file or column name with other characters is shown escaped.
func (p Problem) Error() string {
	return fmt.Sprintf("%s:%d: %s: %s", ascii(p.File), p.Line, ascii(p.Field), ascii(p.Reason))
}

// ascii returns s unchanged when it is printable ASCII, else escaped
// as in a Go string literal (without the quotes).
func ascii(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			q := strconv.QuoteToASCII(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}

// field identifies the device attribute a column feeds.
type field int

const (
	fCustom field = iota
	fHostname
	fFQDN
	fIP
	fMAC
	fSite
	fGroups
	fOSName
	fOSVersion
	fTags
	fDescription
	fPort
	fTransport
	fCredentialID
	fAuth
	fCABundle
	fInsecureSkipVerify
	fAllowUnencrypted
)

// fieldOf maps a normalised header name (see normaliseHeader) to its
// field; ok is false for a custom column.
func fieldOf(h string) (f field, ok bool) {
	switch h {
	case "hostname", "computername", "name":
		return fHostname, true
	case "fqdn":
		return fFQDN, true
	case "ipaddress", "ip":
		return fIP, true
	case "macaddress", "mac":
		return fMAC, true
	case "siteid", "site":
		return fSite, true
	case "groupid", "group", "groupids", "groups":
		return fGroups, true
	case "osname":
		return fOSName, true
	case "osversion":
		return fOSVersion, true
	case "tags":
		return fTags, true
	case "description":
		return fDescription, true
	case "port":
		return fPort, true
	case "transport":
		return fTransport, true
	case "credentialid":
		return fCredentialID, true
	case "auth", "authentication", "authmethod":
		return fAuth, true
	case "cabundle", "cafile", "cacert":
		return fCABundle, true
	case "insecureskipverify", "skipverify", "insecure":
		return fInsecureSkipVerify, true
	case "allowunencrypted", "unencrypted":
		return fAllowUnencrypted, true
	}
	return fCustom, false
}

// normaliseHeader lower-cases h and drops spaces, '_' and '-', so that
// "IP Address" and "ip_address" both name IPAddress.
func normaliseHeader(h string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '_', '-':
			return -1
		}
		return r
	}, strings.ToLower(h))
}

// column is one header cell.
type column struct {
	name  string // as written, trimmed
	field field
}

// parsed is everything parse found.
type parsed struct {
	rows     []Row
	problems []Problem
	invalid  int  // data rows with at least one problem
	fatal    bool // the header is unusable: no row can be imported
}

// Parse reads the whole file and returns its valid rows and a problem for
// each thing wrong with the others. The first line is the header; columns
// are matched case-insensitively, with aliases (Hostname, ComputerName or
// Name; IPAddress or IP; MACAddress or MAC; SiteId or Site; GroupId, Group,
// GroupIds or Groups; Auth or AuthMethod; CABundle, CAFile or CACert;
// InsecureSkipVerify, SkipVerify or Insecure; AllowUnencrypted), and
// unknown columns become custom fields. Columns
// with an empty header are ignored. err is only for a read error or a
// header that is missing or unreadable (empty file, UTF-16, bad quoting,
// not UTF-8); it is then a *Problem.
func Parse(name string, r io.Reader) (rows []Row, problems []Problem, err error) {
	p, err := parse(name, r)
	return p.rows, p.problems, err
}

// utf8BOM is the byte order mark Excel and PowerShell 5.1 put at the
// start of "UTF-8" files.
const utf8BOM = "\xEF\xBB\xBF"

func parse(name string, r io.Reader) (parsed, error) {
	var out parsed
	data, err := io.ReadAll(r)
	if err != nil {
		return out, fmt.Errorf("read %s: %w", name, err)
	}
	fileProblem := func(line int, field, reason string) (parsed, error) {
		return parsed{fatal: true}, &Problem{File: name, Line: line, Field: field, Reason: reason}
	}
	switch {
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		return fileProblem(1, "encoding", "file is UTF-16; save it as UTF-8")
	case bytes.IndexByte(firstLine(data), 0) >= 0:
		return fileProblem(1, "encoding", "file contains NUL bytes (UTF-16 without a byte order mark?); save it as UTF-8")
	}
	data = bytes.TrimPrefix(data, []byte(utf8BOM))

	var lines []int // line lengths, for quote errors
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1 // counted here, so a short row is one problem, not the end of the file
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return fileProblem(1, "header", "file is empty; the first line must be a header such as Hostname,IPAddress,Site")
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return fileProblem(pe.StartLine, "header", quoteReason(pe, unterminated(data, &lines, pe)))
		}
		return out, fmt.Errorf("read %s: %w", name, err)
	}
	headerLine, _ := cr.FieldPos(0)
	for _, h := range header {
		if !utf8.ValidString(h) {
			return fileProblem(headerLine, "header", "not valid UTF-8; save the file as UTF-8")
		}
	}
	cols, hp := mapHeader(name, headerLine, header)
	if len(hp) > 0 {
		return parsed{problems: hp, fatal: true}, nil
	}

	hostCol := -1
	for i, c := range cols {
		if c.field == fHostname {
			hostCol = i
		}
	}
	seen := map[string]int{} // lower-case hostname -> line
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return out, fmt.Errorf("read %s: %w", name, err)
			}
			f := "quote"
			if len(rec) < len(cols) && cols[len(rec)].name != "" {
				f = cols[len(rec)].name
			}
			out.problems = append(out.problems, Problem{File: name, Line: pe.StartLine, Field: f,
				Reason: quoteReason(pe, unterminated(data, &lines, pe))})
			out.invalid++
			continue
		}
		line, _ := cr.FieldPos(0)
		if blank(rec) {
			continue
		}
		row, ps := parseRow(name, line, cols, hostCol, rec, seen)
		if len(ps) > 0 {
			out.problems = append(out.problems, ps...)
			out.invalid++
			continue
		}
		out.rows = append(out.rows, row)
	}
	return out, nil
}

// firstLine returns data up to its first newline.
func firstLine(data []byte) []byte {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return data[:i]
	}
	return data
}

// lineLengths returns the length in bytes of each physical line of data,
// without its line ending; line n is at index n-1.
func lineLengths(data []byte) []int {
	var out []int
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			out = append(out, len(bytes.TrimRight(data, "\r")))
			break
		}
		out = append(out, len(bytes.TrimRight(data[:i], "\r")))
		data = data[i+1:]
	}
	return out
}

// unterminated reports whether a quote error is a quoted field that runs
// to the end of the file: csv then reports a column past the end of the
// line it stopped on, while a stray quote is reported where it is.
// lines is the result of lineLengths, computed on the first call.
func unterminated(data []byte, lines *[]int, pe *csv.ParseError) bool {
	if !errors.Is(pe.Err, csv.ErrQuote) {
		return false
	}
	if *lines == nil {
		*lines = lineLengths(data)
	}
	if pe.Line < 1 || pe.Line > len(*lines) {
		return true
	}
	return pe.Column > (*lines)[pe.Line-1]
}

func quoteReason(pe *csv.ParseError, unterminated bool) string {
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		return `bare " in an unquoted field (quote the whole field and double the quotes inside it)`
	case unterminated:
		return "unterminated quoted field: the quote opened on this line is never closed"
	case errors.Is(pe.Err, csv.ErrQuote) && pe.Line > pe.StartLine:
		return fmt.Sprintf("quoted field opened on this line runs to line %d and is not closed properly", pe.Line)
	case errors.Is(pe.Err, csv.ErrQuote):
		return `extraneous " in a quoted field (double the quotes inside a quoted field)`
	}
	return pe.Err.Error()
}

// mapHeader maps each header cell to a field and reports a header that
// cannot be used: no hostname column, or two columns for one field.
func mapHeader(file string, line int, header []string) ([]column, []Problem) {
	var ps []Problem
	cols := make([]column, len(header))
	byField := map[field]string{}
	custom := map[string]string{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		cols[i] = column{name: h}
		if h == "" {
			continue
		}
		f, known := fieldOf(normaliseHeader(h))
		if !known {
			key := strings.ToLower(h)
			if prev, dup := custom[key]; dup {
				ps = append(ps, Problem{File: file, Line: line, Field: h,
					Reason: fmt.Sprintf("column %s appears twice (also %s)", quote(h), quote(prev))})
			}
			custom[key] = h
			cols[i].field = fCustom
			continue
		}
		if prev, dup := byField[f]; dup {
			ps = append(ps, Problem{File: file, Line: line, Field: h,
				Reason: fmt.Sprintf("columns %s and %s mean the same thing; keep one", quote(prev), quote(h))})
		}
		byField[f] = h
		cols[i].field = f
	}
	if _, ok := byField[fHostname]; !ok {
		ps = append(ps, Problem{File: file, Line: line, Field: "Hostname",
			Reason: "no hostname column (name one Hostname, ComputerName or Name)"})
	}
	return cols, ps
}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// parseRow validates one record and builds its device. seen maps the
// hostnames of earlier rows to their lines.
func parseRow(file string, line int, cols []column, hostCol int, rec []string, seen map[string]int) (Row, []Problem) {
	var ps []Problem
	bad := func(col, reason string) {
		ps = append(ps, Problem{File: file, Line: line, Field: col, Reason: reason})
	}
	if len(rec) != len(cols) {
		bad("columns", fmt.Sprintf("wrong number of fields: %d, the header has %d", len(rec), len(cols)))
		return Row{}, ps
	}
	d := store.DeviceInput{}
	for i, raw := range rec {
		c := cols[i]
		if c.name == "" {
			continue
		}
		v := strings.TrimSpace(raw)
		if !utf8.ValidString(v) {
			bad(c.name, "not valid UTF-8; save the file as UTF-8")
			continue
		}
		switch c.field {
		case fHostname:
			d.Hostname = v
			switch {
			case v == "":
				bad(c.name, "missing hostname")
			case checkHostname(v) != "":
				bad(c.name, checkHostname(v))
			default:
				key := strings.ToLower(v)
				if first, dup := seen[key]; dup {
					bad(c.name, fmt.Sprintf("duplicate of line %d", first))
				} else {
					seen[key] = line
				}
			}
		case fFQDN:
			if v != "" {
				if reason := checkHostname(v); reason != "" {
					bad(c.name, strings.Replace(reason, "hostname", "FQDN", 1))
				}
			}
			d.FQDN = v
		case fIP:
			if v != "" {
				if _, err := netip.ParseAddr(v); err != nil {
					bad(c.name, "invalid IP address "+quote(v))
				}
			}
			d.IP = v
		case fMAC:
			if v != "" {
				if _, err := net.ParseMAC(v); err != nil {
					bad(c.name, "invalid MAC address "+quote(v))
				}
			}
			d.MAC = v
		case fSite:
			d.Site = v
		case fGroups:
			d.Groups = splitList(v)
		case fOSName:
			d.OSName = v
		case fOSVersion:
			d.OSVersion = v
		case fTags:
			d.Tags = splitList(v)
		case fDescription:
			d.Description = v
		case fPort:
			if v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 65535 {
					bad(c.name, fmt.Sprintf("invalid port %s: want a number from 1 to 65535", quote(v)))
				}
				d.Port = n
			}
		case fTransport:
			t := strings.ToLower(v)
			if t != "" && t != "http" && t != "https" {
				bad(c.name, fmt.Sprintf("invalid transport %s: want http or https", quote(v)))
			}
			d.Transport = t
		case fCredentialID:
			d.CredentialID = v
		case fAuth:
			a, err := store.ParseAuth(v)
			if err != nil {
				bad(c.name, fmt.Sprintf("invalid auth %s: want basic, ntlm or kerberos", quote(v)))
			}
			d.Auth = a
		case fCABundle:
			d.CABundle = v
		case fInsecureSkipVerify, fAllowUnencrypted:
			b, ok := parseBool(v)
			if !ok {
				bad(c.name, fmt.Sprintf("invalid value %s: want true or false (or empty to keep)", quote(v)))
			}
			if c.field == fInsecureSkipVerify {
				d.InsecureSkipVerify = b
			} else {
				d.AllowUnencrypted = b
			}
		case fCustom:
			if v != "" {
				if d.Custom == nil {
					d.Custom = map[string]string{}
				}
				d.Custom[c.name] = v
			}
		}
	}
	if hostCol < 0 {
		bad("Hostname", "missing hostname")
	}
	if len(ps) > 0 {
		return Row{}, ps
	}
	return Row{Line: line, Device: d}, nil
}

// checkHostname returns why h is not a valid host name, or "". Allowed:
// ASCII letters, digits, '-', '.', '_'; 1..253 characters; labels between
// dots 1..63 characters.
func checkHostname(h string) string {
	if len(h) > 253 {
		return fmt.Sprintf("invalid hostname %s: %d characters; at most 253", quote(h), len(h))
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return fmt.Sprintf("invalid hostname %s: only letters, digits, '-', '.' and '_' are allowed", quote(h))
		}
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" {
			return fmt.Sprintf("invalid hostname %s: empty label between dots", quote(h))
		}
		if len(label) > 63 {
			return fmt.Sprintf("invalid hostname %s: label of %d characters; at most 63", quote(h), len(label))
		}
	}
	return ""
}

// parseBool reads a yes/no cell: true, yes, y, 1 or false, no, n, 0 in
// any case; empty is nil (keep the stored value).
func parseBool(v string) (*bool, bool) {
	var b bool
	switch strings.ToLower(v) {
	case "":
		return nil, true
	case "true", "yes", "y", "1":
		b = true
	case "false", "no", "n", "0":
	default:
		return nil, false
	}
	return &b, true
}

// splitList splits a comma or semicolon separated list, trimming items and
// dropping empty and case-insensitively repeated ones.
func splitList(v string) []string {
	var out []string
	seen := map[string]bool{}
	for _, item := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' }) {
		item = strings.TrimSpace(item)
		if item == "" || seen[strings.ToLower(item)] {
			continue
		}
		seen[strings.ToLower(item)] = true
		out = append(out, item)
	}
	return out
}

// quote quotes a value for a message: ASCII only, at most 40 characters.
func quote(v string) string {
	const max = 40
	if utf8.RuneCountInString(v) > max {
		v = string([]rune(v)[:max]) + "..."
	}
	return strconv.QuoteToASCII(v)
}

// Import parses the file and stores its devices in one transaction. When
// any row is invalid it imports nothing and returns the problems with a
// summary error, unless opts.SkipInvalid, in which case it imports the
// valid rows and counts the others in Skipped. A header that cannot be
// used (no hostname column, unreadable) always imports nothing.
func Import(ctx context.Context, db *store.DB, name string, r io.Reader, opts Options) (store.ImportResult, []Problem, error) {
	in, skipped, problems, err := Plan(name, r, opts)
	if err != nil {
		return store.ImportResult{}, problems, err
	}
	res := store.ImportResult{Skipped: skipped}
	if len(in) == 0 {
		return res, problems, nil
	}
	got, err := db.UpsertDevices(ctx, in)
	if err != nil {
		return store.ImportResult{}, problems, fmt.Errorf("import %s: %w", name, err)
	}
	res.Added, res.Updated = got.Added, got.Updated
	return res, problems, nil
}

// Plan parses and checks a file as Import does, without writing: it
// returns the devices to upsert and how many invalid rows were skipped, or
// the error that rejects the whole file. Front ends that write through the
// engine (so the import is authorized and audited) use Plan.
func Plan(name string, r io.Reader, opts Options) (devices []store.DeviceInput, skipped int, problems []Problem, err error) {
	p, err := parse(name, r)
	if err != nil {
		var prob *Problem
		if errors.As(err, &prob) {
			return nil, 0, []Problem{*prob}, fmt.Errorf("import %s: %s; nothing imported", name, prob.Reason)
		}
		return nil, 0, nil, fmt.Errorf("import %s: %w", name, err)
	}
	if p.fatal {
		reason := p.problems[0].Reason
		if len(p.problems) > 1 {
			reason = fmt.Sprintf("%d problems in the header", len(p.problems))
		}
		return nil, 0, p.problems, fmt.Errorf("import %s: %s; nothing imported", name, reason)
	}
	if p.invalid > 0 && !opts.SkipInvalid {
		return nil, 0, p.problems, fmt.Errorf("import %s: %d invalid %s; nothing imported (use --skip-invalid to import the valid rows)",
			name, p.invalid, plural(p.invalid, "row", "rows"))
	}
	devices = make([]store.DeviceInput, len(p.rows))
	for i, row := range p.rows {
		devices[i] = row.Device
	}
	return devices, p.invalid, p.problems, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
