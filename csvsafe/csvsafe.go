// Package csvsafe makes text safe to put in a CSV cell that a spreadsheet
// may open. Every CSV rmm writes (device and result exports, rmm action
// export, the audit export) passes each cell that came from a managed host
// or from a person through Cell, so a value such as =HYPERLINK(...) or
// @SUM(...) is shown as text, never evaluated as a formula ("CSV
// injection", OWASP).
//
// It must not change cells rmm computes itself (numbers, times, states): a
// negative number stays a number.
package csvsafe

import (
	"encoding/csv"
	"io"
	"slices"
	"unicode/utf8"
)

// Cell returns s as a CSV cell that no spreadsheet evaluates: a value
// whose first character starts a formula in Excel, LibreOffice or Google
// Sheets (= + - @, a tab, a carriage return, a line feed, or the full-width
// forms of = + - @ that some locales accept) gets a leading single quote,
// which the spreadsheet shows as text; any other value is returned
// unchanged.
func Cell(s string) string {
	if Risky(s) {
		return "'" + s
	}
	return s
}

// Risky reports whether a spreadsheet could read s as a formula: its
// first character is one of those Cell neutralises.
func Risky(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r', '\n':
		return true
	}
	r, _ := utf8.DecodeRuneInString(s)
	switch r {
	case '\uFF1D', '\uFF0B', '\uFF0D', '\uFF20': // full-width = + - @
		return true
	}
	return false
}

// Writer is a csv.Writer for records that mix computed cells with cells
// from hosts or people: WriteRow neutralises the cells it is told came
// from outside (see Cell).
type Writer struct {
	cw *csv.Writer
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{cw: csv.NewWriter(w)} }

// Header writes the header line as is (rmm's own column names).
func (w *Writer) Header(cols []string) error { return w.cw.Write(cols) }

// Row writes one record. Cells are neutralised with Cell unless their
// index is in computed: rmm's own numbers, times and states, which must
// stay as they are (a negative exit code stays a number).
func (w *Writer) Row(cells []string, computed ...int) error {
	out := make([]string, len(cells))
	for i, c := range cells {
		if slices.Contains(computed, i) {
			out[i] = c
			continue
		}
		out[i] = Cell(c)
	}
	return w.cw.Write(out)
}

// Flush writes any buffered data and returns the first error of any
// write.
func (w *Writer) Flush() error {
	w.cw.Flush()
	return w.cw.Error()
}
