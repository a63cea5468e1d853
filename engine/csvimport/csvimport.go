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

	"github.com/rmmhq/rmm/csvsafe"
	"github.com/rmmhq/rmm/store"
)

// Row is one valid data row of the file.
type Row struct {
	Line   int // physical line where the record starts (the header is line 1)
	Device store.DeviceInput
	// Disabled is a computer account the file marks disabled (an Enabled
	// column, as Get-ADComputer exports it, saying False).
	Disabled bool
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
	// IncludeDisabled imports the rows of disabled computer accounts (an
	// Enabled column saying False), which are otherwise left out and
	// counted (Stream.Disabled).
	IncludeDisabled bool
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
	fDN      // DistinguishedName: its OUs become groups
	fEnabled // Enabled: False leaves the row out
	fIgnored // read and dropped: rmm's own report columns, AD's collection metadata
)

// fieldOf maps a normalised header name (see normaliseHeader) to its
// field; ok is false for a custom column.
func fieldOf(h string) (f field, ok bool) {
	switch h {
	case "hostname", "computername", "name":
		return fHostname, true
	case "fqdn", "dnshostname":
		return fFQDN, true
	case "ipaddress", "ip", "ipv4address":
		return fIP, true
	case "macaddress", "mac":
		return fMAC, true
	case "siteid", "site":
		return fSite, true
	case "groupid", "group", "groupids", "groups":
		return fGroups, true
	case "osname", "operatingsystem":
		return fOSName, true
	case "osversion", "operatingsystemversion":
		return fOSVersion, true
	case "distinguishedname":
		return fDN, true
	case "enabled":
		return fEnabled, true
	case "status", "lastseen", "cpu", "cpupct", "mem", "mempct", "diskfree", "diskfreepct", "lasterror",
		"propertynames", "addedproperties", "removedproperties", "modifiedproperties", "propertycount":
		// What rmm devices --csv writes besides the columns it reads (so an
		// export imports back unchanged), and the ADPropertyValueCollection
		// bookkeeping Export-Csv writes for Get-ADComputer objects.
		return fIgnored, true
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
		if prev, dup := byField[f]; dup && f != fIgnored {
			ps = append(ps, Problem{File: file, Line: line, Field: h,
				Reason: fmt.Sprintf("columns %s and %s mean the same thing; keep one", quote(prev), quote(h))})
		}
		byField[f] = h
		cols[i].field = f
	}
	_, host := byField[fHostname]
	_, fqdn := byField[fFQDN]
	if !host && !fqdn {
		ps = append(ps, Problem{File: file, Line: line, Field: "Hostname",
			Reason: "no hostname column (name one Hostname, ComputerName, Name, or DNSHostName/FQDN)"})
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
	disabled := false
	for i, raw := range rec {
		c := cols[i]
		if c.name == "" {
			continue
		}
		v := unneutralise(strings.TrimSpace(raw))
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
			d.OSVersion = adVersion(v)
		case fDN:
			d.Groups = append(d.Groups, ouGroups(v)...)
		case fEnabled:
			b, ok := parseBool(v)
			if !ok {
				bad(c.name, fmt.Sprintf("invalid value %s: want True or False", quote(v)))
			}
			disabled = b != nil && !*b
		case fIgnored:
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
	if hostCol < 0 && d.Hostname == "" {
		// Get-ADComputer | Export-Csv without Name: the DNS name's first
		// label is the computer name.
		short, _, _ := strings.Cut(d.FQDN, ".")
		switch {
		case short == "":
			bad("Hostname", "missing hostname (the DNSHostName/FQDN cell is empty)")
		case checkHostname(short) != "":
			bad("Hostname", checkHostname(short))
		default:
			key := strings.ToLower(short)
			if first, dup := seen[key]; dup {
				bad("Hostname", fmt.Sprintf("duplicate of line %d", first))
			} else {
				seen[key] = line
			}
			d.Hostname = short
		}
	}
	if len(d.Groups) > 1 {
		d.Groups = splitList(strings.Join(d.Groups, ";")) // Groups and the OUs, once each
	}
	if len(ps) > 0 {
		return Row{}, ps
	}
	return Row{Line: line, Device: d, Disabled: disabled}, nil
}

// unneutralise undoes the leading ' that rmm's exports (csvsafe.Cell)
// and spreadsheets put before a value starting like a formula, so an
// exported file imports back unchanged.
func unneutralise(v string) string {
	if len(v) >= 2 && v[0] == '\'' && csvsafe.Risky(v[1:]) {
		return v[1:]
	}
	return v
}

// adVersion turns Active Directory's OperatingSystemVersion ("10.0
// (19045)") into the version rmm shows ("10.0.19045"); anything else is
// kept as written.
func adVersion(v string) string {
	base, build, ok := strings.Cut(v, " (")
	if !ok || !strings.HasSuffix(build, ")") {
		return v
	}
	build = strings.TrimSuffix(build, ")")
	if _, err := strconv.Atoi(build); err != nil {
		return v
	}
	return base + "." + build
}

// ouGroups are the organisational units of a distinguished name, outer
// first ("CN=WS-1,OU=Laptops,OU=London,DC=corp,DC=example" gives London
// and Laptops): each becomes a group, so group:London selects them.
func ouGroups(dn string) []string {
	var ous []string
	for _, part := range splitDN(dn) {
		k, v, ok := strings.Cut(part, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "OU") && strings.TrimSpace(v) != "" {
			ous = append(ous, strings.TrimSpace(v))
		}
	}
	for i, j := 0, len(ous)-1; i < j; i, j = i+1, j-1 {
		ous[i], ous[j] = ous[j], ous[i]
	}
	return ous
}

// splitDN splits a distinguished name at commas that are not escaped
// (a\,b is one value).
func splitDN(dn string) []string {
	var out []string
	var b strings.Builder
	for i := 0; i < len(dn); i++ {
		switch c := dn[i]; {
		case c == '\\' && i+1 < len(dn):
			b.WriteByte(dn[i+1])
			i++
		case c == ',':
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(out, b.String())
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
