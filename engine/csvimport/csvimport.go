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
	"encoding/csv"
	"errors"
	"fmt"
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

// Options tunes Import and Stream.
type Options struct {
	// SkipInvalid imports the valid rows of a file that has invalid ones
	// (counted in ImportResult.Skipped) instead of importing nothing.
	SkipInvalid bool
	// Progress, when set, is called every ProgressEvery data rows and
	// once at the end, with the rows read so far and the bytes of the
	// file read so far (for a progress line on a terminal).
	Progress func(rows int, bytes int64)
}

// ProgressEvery is how many data rows pass between Options.Progress calls.
const ProgressEvery = 10000

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
	fLoop
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
	case "loop", "residentloop":
		return fLoop, true
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
		if reason := controlChar(v); reason != "" {
			bad(c.name, reason)
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
				// A copy: v is part of the record's line, which the map
				// would otherwise keep alive for the whole file.
				key := strings.Clone(strings.ToLower(v))
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
				bad(c.name, fmt.Sprintf("invalid auth %s: want basic, negotiate, kerberos or ntlm", quote(v)))
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
		case fLoop:
			// on (the default) or off: off never starts the resident
			// PowerShell loop there (an EDR that forbids it).
			var off bool
			switch strings.ToLower(v) {
			case "":
			case "on", "true", "yes", "1":
				d.LoopOff = &off
			case "off", "false", "no", "0":
				off = true
				d.LoopOff = &off
			default:
				bad(c.name, fmt.Sprintf("invalid loop %s: want on or off (or empty to keep)", quote(v)))
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
// dots 1..63 characters, none starting or ending with '-' (RFC 1123: a
// name like "-rf" would also read as options on a command line).
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
		if strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return fmt.Sprintf("invalid hostname %s: a label starts or ends with '-'", quote(h))
		}
	}
	return ""
}

// controlChar returns why a cell with a control character is refused, or
// "": a NUL byte, or any other C0 control but tab, line feed and carriage
// return (an escape sequence in a site name would reach every console
// that shows it).
func controlChar(v string) string {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == 0:
			return "contains a NUL byte"
		case c < 0x20 && c != '\t' && c != '\n' && c != '\r', c == 0x7f:
			return fmt.Sprintf("contains the control character 0x%02X", c)
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
