package csvimport

// Reading a file row by row, in bounded memory: a file of a million rows
// is read, checked and stored without holding it, its rows or its
// devices in memory at once (reliability F13: 2 GB for 1,000,000 rows).
// What is kept is the hostnames seen (for duplicates), the first
// maxProblems problems, and one record.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"github.com/rmmhq/rmm/store"
)

// MaxCellBytes is the most one cell may hold. A longer cell (a 16 MB
// description) refuses the whole file, naming its line and column, as
// soon as it passes this size, so it never has to be read whole.
const MaxCellBytes = 64 << 10

// maxProblems is how many problems are kept; the rest are counted
// (Stream.Omitted).
const maxProblems = 1000

// maxSample is how many hostnames Stream.Hosts keeps, for an audit row.
const maxSample = 100

// utf8BOM is the byte order mark Excel and PowerShell 5.1 put at the
// start of "UTF-8" files.
const utf8BOM = "\xEF\xBB\xBF"

// ErrRejected matches, with errors.Is, the error of a file that is not
// imported because of what is in it (bad rows, an unusable header, a
// wrong encoding), as opposed to a read or database error.
var ErrRejected = errors.New("file rejected")

// Rejection finds in err the rejection of a file (see ErrRejected) and
// returns it with its own message ("import FILE: 3 invalid rows; nothing
// imported ..."), without the layers it was wrapped in on its way.
func Rejection(err error) (error, bool) {
	var re *rejectedError
	if errors.As(err, &re) {
		return re, true
	}
	return nil, false
}

// rejectedError is a file not imported because of its content.
type rejectedError struct{ msg string }

func (e *rejectedError) Error() string        { return e.msg }
func (e *rejectedError) Is(target error) bool { return target == ErrRejected }

// Stream is one pass over a device CSV: Each hands its valid devices to a
// writer as they are read; afterwards Problems, Rows and the rest say
// what was found. Create it with NewStream; it runs once.
type Stream struct {
	name string
	r    io.Reader
	opts Options

	problems []Problem
	omitted  int
	invalid  int
	rows     int
	disabled int // rows of disabled computer accounts left out
	sample   []string
	notes    []string
	fatal    bool // the header is unusable: no row can be imported
	ran      bool
}

// Notes say how the file was read when it was not plain comma-separated
// UTF-8: converted from UTF-16, semicolon-delimited, an Export-Csv #TYPE
// line skipped, disabled accounts left out.
func (s *Stream) Notes() []string {
	out := s.notes
	if s.disabled > 0 {
		out = append(out[:len(out):len(out)], fmt.Sprintf("left out %d disabled computer %s (Enabled False; --include-disabled imports them)",
			s.disabled, plural(s.disabled, "account", "accounts")))
	}
	return out
}

// Disabled is how many rows of disabled computer accounts were left out.
func (s *Stream) Disabled() int { return s.disabled }

// NewStream prepares a pass over the CSV r, named name in problems.
func NewStream(name string, r io.Reader, opts Options) *Stream {
	return &Stream{name: name, r: r, opts: opts}
}

// Each reads the file and calls fn with each valid device, in file
// order. It returns nil when what fn got may be kept, and otherwise the
// error that rejects the import (wrapping ErrRejected), once the whole
// file is read so that every problem is known: a file with an invalid
// row (unless Options.SkipInvalid), an unusable header or encoding, or a
// cell over MaxCellBytes. The caller stores what fn got in one
// transaction and commits it only when Each returns nil. fn's error ends
// the pass and is returned as is. Each runs once.
func (s *Stream) Each(fn func(store.DeviceInput) error) error {
	if s.ran {
		return errors.New("csvimport: a stream is read once")
	}
	s.ran = true
	err := s.scan(func(row Row) error {
		if s.invalid > 0 && !s.opts.SkipInvalid {
			return nil // rejected at the end: keep reading for the problems only
		}
		d := row.Device
		d.Line = row.Line // for the engine's messages about the row
		return fn(d)
	})
	if err != nil {
		var prob *Problem
		if errors.As(err, &prob) {
			s.add(*prob)
			return &rejectedError{fmt.Sprintf("import %s: %s; nothing imported", s.name, prob.Reason)}
		}
		return err
	}
	if s.fatal {
		reason := s.problems[0].Reason
		if len(s.problems) > 1 {
			reason = fmt.Sprintf("%d problems in the header", len(s.problems))
		}
		return &rejectedError{fmt.Sprintf("import %s: %s; nothing imported", s.name, reason)}
	}
	if s.invalid > 0 && !s.opts.SkipInvalid {
		return &rejectedError{fmt.Sprintf("import %s: %d invalid %s; nothing imported (use --skip-invalid to import the valid rows)",
			s.name, s.invalid, plural(s.invalid, "row", "rows"))}
	}
	return nil
}

// Problems are the problems found, in file order: at most 1000 (see
// Omitted).
func (s *Stream) Problems() []Problem { return s.problems }

// Omitted is how many problems were found beyond those Problems keeps.
func (s *Stream) Omitted() int { return s.omitted }

// Rows is how many valid rows the file has.
func (s *Stream) Rows() int { return s.rows }

// Skipped is how many invalid rows were left out (Options.SkipInvalid).
func (s *Stream) Skipped() int {
	if s.opts.SkipInvalid {
		return s.invalid
	}
	return 0
}

// Hosts are the hostnames of the first 100 valid rows.
func (s *Stream) Hosts() []string { return s.sample }

func (s *Stream) add(ps ...Problem) {
	for _, p := range ps {
		if len(s.problems) < maxProblems {
			s.problems = append(s.problems, p)
		} else {
			s.omitted++
		}
	}
}

// Parse reads the whole file and returns its valid rows and a problem for
// each thing wrong with the others (at most 1000). The first line is the
// header; columns are matched case-insensitively, with aliases
// (Hostname, ComputerName or Name; IPAddress or IP; MACAddress or MAC;
// SiteId or Site; GroupId, Group, GroupIds or Groups; Auth or
// AuthMethod; CABundle, CAFile or CACert; InsecureSkipVerify, SkipVerify
// or Insecure; AllowUnencrypted; Loop or ResidentLoop: on or off), and
// unknown columns become custom fields. Columns with an empty header are ignored. err is only for a
// read error or a file that cannot be read as a whole (empty file,
// UTF-16, bad quoting in the header, not UTF-8, a cell over
// MaxCellBytes); it is then a *Problem. Parse holds every row: for big
// files use Stream.
func Parse(name string, r io.Reader) (rows []Row, problems []Problem, err error) {
	s := NewStream(name, r, Options{})
	err = s.scan(func(row Row) error {
		rows = append(rows, row)
		return nil
	})
	return rows, s.problems, err
}

// Import reads the file and stores its devices in one transaction,
// streaming (see Stream). When any row is invalid it imports nothing and
// returns the problems with a summary error, unless opts.SkipInvalid, in
// which case it imports the valid rows and counts the others in Skipped.
// A header that cannot be used (no hostname column, unreadable) always
// imports nothing. Front ends that write through the engine (so the
// import is authorized and audited) pass a Stream to engine.ImportDevices
// instead.
func Import(ctx context.Context, db *store.DB, name string, r io.Reader, opts Options) (store.ImportResult, []Problem, error) {
	s := NewStream(name, r, opts)
	res, err := db.UpsertDeviceStream(ctx, s.Each)
	if err != nil {
		if re, ok := Rejection(err); ok {
			return store.ImportResult{}, s.Problems(), re
		}
		return store.ImportResult{}, s.Problems(), fmt.Errorf("import %s: %w", name, err)
	}
	res.Skipped = s.Skipped()
	return res, s.Problems(), nil
}

// scan reads the file and calls fn with each valid row. Problems of rows
// are collected in s; the error is a *Problem for a file that cannot be
// read as a whole, a read error, or fn's error.
func (s *Stream) scan(fn func(Row) error) error {
	name := s.name
	file := &countingReader{r: s.r} // the file's bytes, for progress (a UTF-16 file is decoded below)
	raw := bufio.NewReaderSize(file, 64<<10)
	fileProblem := func(line int, field, reason string) error {
		s.fatal = true
		return &Problem{File: name, Line: line, Field: field, Reason: reason}
	}
	br := raw
	if bom, _ := raw.Peek(2); bytes.HasPrefix(bom, []byte{0xFF, 0xFE}) || bytes.HasPrefix(bom, []byte{0xFE, 0xFF}) {
		// Out-File and > in Windows PowerShell 5.1 write UTF-16 with a
		// byte order mark: read as UTF-8 from here on.
		dec := unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()
		br = bufio.NewReaderSize(transform.NewReader(raw, dec), 64<<10)
		s.notes = append(s.notes, "read as UTF-16 (converted to UTF-8)")
	}
	head, err := br.Peek(64 << 10)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return fmt.Errorf("read %s: %w", name, err)
	}
	switch {
	case bytes.IndexByte(firstLine(head), 0) >= 0:
		return fileProblem(1, "encoding", "file contains NUL bytes (UTF-16 without a byte order mark?); save it as UTF-8 or as UTF-16 with its byte order mark")
	case bytes.HasPrefix(head, []byte(utf8BOM)):
		_, _ = br.Discard(len(utf8BOM))
		head = head[len(utf8BOM):]
	}
	comma, typeLine := sniff(head)
	if typeLine {
		s.notes = append(s.notes, "skipped Export-Csv's #TYPE line")
	}
	switch comma {
	case ';':
		s.notes = append(s.notes, "semicolon-delimited (as Excel saves CSV in many locales)")
	case '\t':
		s.notes = append(s.notes, "tab-delimited")
	}

	g := &guard{r: br, line: 1, fieldStart: true, comma: byte(comma)}
	cr := csv.NewReader(g)
	cr.Comma = comma
	cr.Comment = '#'        // for the lines before the header (#TYPE); set back once it is read
	cr.FieldsPerRecord = -1 // counted here, so a short row is one problem, not the end of the file
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	var cols []column
	readErr := func(err error) error {
		var tl *cellTooLong
		if errors.As(err, &tl) {
			field := "header"
			if cols != nil {
				field = fmt.Sprintf("column %d", tl.col+1)
				if tl.col < len(cols) && cols[tl.col].name != "" {
					field = cols[tl.col].name
				}
			}
			return fileProblem(tl.line, field, fmt.Sprintf("cell of more than %d bytes (at most %d KiB per cell)", MaxCellBytes, MaxCellBytes>>10))
		}
		return fmt.Errorf("read %s: %w", name, err)
	}
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return fileProblem(1, "header", "file is empty; the first line must be a header such as Hostname,IPAddress,Site")
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return fileProblem(pe.StartLine, "header", quoteReason(pe, g.unterminated(pe)))
		}
		return readErr(err)
	}
	cr.Comment = 0                            // data rows are never comments
	header = append([]string(nil), header...) // the record is reused
	headerLine, _ := cr.FieldPos(0)
	for _, h := range header {
		if !utf8.ValidString(h) {
			return fileProblem(headerLine, "header", "not valid UTF-8; save the file as UTF-8")
		}
	}
	cols, hp := mapHeader(name, headerLine, header)
	if len(hp) > 0 {
		s.fatal = true
		s.add(hp...)
		return nil
	}

	hostCol := -1
	for i, c := range cols {
		if c.field == fHostname {
			hostCol = i
		}
	}
	seen := map[string]int{} // lower-case hostname -> line
	records := 0
	progress := func() {
		if s.opts.Progress != nil {
			s.opts.Progress(records, file.n)
		}
	}
	defer progress()
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		records++
		if records%ProgressEvery == 0 {
			progress()
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return readErr(err)
			}
			f := "quote"
			if len(rec) < len(cols) && cols[len(rec)].name != "" {
				f = cols[len(rec)].name
			}
			s.add(Problem{File: name, Line: pe.StartLine, Field: f, Reason: quoteReason(pe, g.unterminated(pe))})
			s.invalid++
			continue
		}
		line, _ := cr.FieldPos(0)
		if blank(rec) {
			records--
			continue
		}
		row, ps := parseRow(name, line, cols, hostCol, rec, seen)
		if len(ps) > 0 {
			s.add(ps...)
			s.invalid++
			continue
		}
		if row.Disabled && !s.opts.IncludeDisabled {
			s.disabled++
			continue
		}
		s.rows++
		if len(s.sample) < maxSample {
			s.sample = append(s.sample, row.Device.Hostname)
		}
		if err := fn(row); err != nil {
			return err
		}
	}
}

// sniff reads how the file is written from its first bytes: the
// delimiter of its header line (the most frequent of comma, semicolon and
// tab outside quotes; comma on a tie), and whether lines starting with #
// (Export-Csv's "#TYPE ...") come before it.
func sniff(head []byte) (comma rune, typeLine bool) {
	for len(head) > 0 && head[0] == '#' {
		typeLine = true
		head = head[len(firstLine(head)):]
		head = bytes.TrimLeft(head, "\r\n")
	}
	line := firstLine(head)
	counts := map[byte]int{}
	inQuote := false
	for _, c := range line {
		switch {
		case c == '"':
			inQuote = !inQuote
		case !inQuote && (c == ',' || c == ';' || c == '\t'):
			counts[c]++
		}
	}
	best := byte(',')
	for _, c := range []byte{';', '\t'} {
		if counts[c] > counts[best] {
			best = c
		}
	}
	return rune(best), typeLine
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// firstLine returns data up to its first newline.
func firstLine(data []byte) []byte {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return data[:i]
	}
	return data
}

// cellTooLong is the guard's refusal of a cell over MaxCellBytes.
type cellTooLong struct {
	line int // where the cell starts
	col  int // 0-based field index
}

func (e *cellTooLong) Error() string {
	return fmt.Sprintf("line %d: field %d longer than %d bytes", e.line, e.col+1, MaxCellBytes)
}

// guard sits between the file and the CSV reader: it follows the CSV
// syntax well enough to know which cell each byte belongs to, and fails
// the read as soon as one cell passes MaxCellBytes, so no cell is ever
// held whole beyond that (the CSV reader buffers a whole record). It
// also remembers whether the file ended inside a quoted field, which
// tells an unterminated quote from a stray one.
type guard struct {
	r io.Reader
	n int64 // bytes read

	line       int  // physical line of the next byte
	col        int  // field index in the record
	cell       int  // bytes of the current cell
	cellLine   int  // line where the current cell started
	fieldStart bool // no byte of the current field yet (leading spaces aside)
	inQuote    bool // inside a quoted field
	quoteEnd   bool // a quote inside a quoted field: closes it unless another follows
	quoteLine  int  // line where the current quoted field opened
	eof        bool
	err        error
	comma      byte // the delimiter (sniff)
}

func (g *guard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.r.Read(p)
	for i := 0; i < n; i++ {
		if g.step(p[i]) {
			g.n += int64(i)
			return i, g.err
		}
	}
	g.n += int64(n)
	if errors.Is(err, io.EOF) {
		g.eof = true
	}
	return n, err
}

// step takes one byte; it reports whether the cell limit tripped.
func (g *guard) step(b byte) bool {
	if g.cell == 0 && g.fieldStart {
		g.cellLine = g.line
	}
	if g.inQuote {
		switch {
		case g.quoteEnd && b == '"': // "" inside quotes
			g.quoteEnd = false
			return g.grow()
		case g.quoteEnd: // the quote closed the field; b is after it
			g.inQuote, g.quoteEnd = false, false
		case b == '"':
			g.quoteEnd = true
			return false
		default:
			if b == '\n' {
				g.line++
			}
			return g.grow()
		}
	}
	switch {
	case b == g.comma:
		g.col, g.cell, g.fieldStart = g.col+1, 0, true
	case b == '\n':
		g.line++
		g.col, g.cell, g.fieldStart = 0, 0, true
	case g.fieldStart && (b == ' ' || b == '\t'):
	case g.fieldStart && b == '"':
		g.inQuote, g.fieldStart, g.quoteLine = true, false, g.line
	case b == '\r':
	default:
		g.fieldStart = false
		return g.grow()
	}
	return false
}

func (g *guard) grow() bool {
	g.cell++
	if g.cell > MaxCellBytes {
		g.err = &cellTooLong{line: g.cellLine, col: g.col}
		return true
	}
	return false
}

// unterminated reports whether a quote error is a quoted field that runs
// to the end of the file (the file ended inside a quoted field that
// opened at or before the error), rather than a stray quote.
func (g *guard) unterminated(pe *csv.ParseError) bool {
	return errors.Is(pe.Err, csv.ErrQuote) && g.eof && g.inQuote && !g.quoteEnd && pe.Line >= g.quoteLine
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
