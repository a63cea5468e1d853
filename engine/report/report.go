// Package report owns what a report looks like on paper: a Document
// (title, key figures, notes, charts, tables) and its four renderings:
// CSV for spreadsheets and scripts, self-contained HTML (html/template,
// charts as inline SVG), PDF (go-pdf/fpdf, charts drawn as vectors) and
// XLSX (excelize, a sheet per table, numbers as numbers).
//
// It knows nothing of devices or the store: the engine (engine/reports.go)
// builds the Document from the data a caller may see, and this package
// renders it. Text from hosts and people reaches a CSV only through
// csvsafe.Cell, and HTML only through html/template's escaping.
package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Document is one report.
type Document struct {
	Title     string // "Uptime and SLA"
	Org       string
	Subtitle  string // the scope and the period
	Generated time.Time
	Facts     []Fact   // key figures, shown first
	Notes     []string // what the reader must know (data not collected, the period's resolution)
	Charts    []Chart
	Tables    []Table
}

// Fact is one key figure.
type Fact struct {
	Label string
	Value string
}

// Chart is a trend: one value per label (a day) per series. A NaN value
// is a gap (no data that day).
type Chart struct {
	Title  string
	Kind   string // "line" or "bar"
	Labels []string
	Series []Series
	Unit   string  // "%", "" for counts
	YMin   float64 // the axis' bottom; YMax 0: from the data
	YMax   float64
}

// Series is one line (or set of bars) of a chart.
type Series struct {
	Name   string
	Values []float64
}

// Table is a section of rows.
type Table struct {
	Name    string // short: the XLSX sheet, the CSV section
	Title   string
	Columns []Column
	Rows    [][]Cell
	// Detail marks a table too long for paper (every application on
	// every device): CSV and XLSX carry it, HTML and PDF say where it is.
	Detail bool
	Note   string // shown under the title
}

// Column is a table's column.
type Column struct {
	Title   string
	Numeric bool // right-aligned; XLSX numbers
}

// Cell is one value: text, or a number with its text (IsNum set).
type Cell struct {
	Text  string
	Num   float64
	IsNum bool
	// Host marks text that came from a host or a person: CSV passes it
	// through csvsafe.Cell.
	Host bool
}

// Text is a cell rmm computed (a state, a date).
func Text(s string) Cell { return Cell{Text: s} }

// HostText is a cell that came from a host or a person (a hostname, an
// application name, a message).
func HostText(s string) Cell { return Cell{Text: s, Host: true} }

// Number is a numeric cell shown with decimals places; NaN shows "-".
func Number(v float64, decimals int) Cell {
	if math.IsNaN(v) {
		return Cell{Text: "-"}
	}
	return Cell{Text: strconv.FormatFloat(v, 'f', decimals, 64), Num: v, IsNum: true}
}

// Int is a whole-number cell.
func Int(v int64) Cell { return Cell{Text: strconv.FormatInt(v, 10), Num: float64(v), IsNum: true} }

// Percent is a percentage cell ("99.95").
func Percent(v float64) Cell { return Number(v, 2) }

// Formats are the renderings.
var Formats = []string{"csv", "html", "pdf", "xlsx"}

// Ext is the file name extension of a format.
func Ext(format string) string { return "." + format }

// ContentType is the MIME type of a format.
func ContentType(format string) string {
	switch format {
	case "csv":
		return "text/csv"
	case "html":
		return "text/html"
	case "pdf":
		return "application/pdf"
	case "xlsx":
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	}
	return "application/octet-stream"
}

// Render writes d in format to w.
func Render(w io.Writer, d Document, format string) error {
	var err error
	switch format {
	case "csv":
		err = CSV(w, d)
	case "html":
		err = HTML(w, d)
	case "pdf":
		err = PDF(w, d)
	case "xlsx":
		err = XLSX(w, d)
	default:
		return fmt.Errorf("report format %q is not one of %s", format, strings.Join(Formats, ", "))
	}
	if err != nil {
		return fmt.Errorf("render %s as %s: %w", d.Title, format, err)
	}
	return nil
}

// Rows counts the rows of every table.
func (d Document) Rows() int {
	n := 0
	for _, t := range d.Tables {
		n += len(t.Rows)
	}
	return n
}

// axisMax is the top of a chart's value axis: YMax, or four nice steps
// above YMin that hold the data (whole steps for counts).
func (c Chart) axisMax() float64 {
	if c.YMax > 0 {
		return c.YMax
	}
	m := math.Inf(-1)
	for _, s := range c.Series {
		for _, v := range s.Values {
			if !math.IsNaN(v) && v > m {
				m = v
			}
		}
	}
	if m <= c.YMin {
		return c.YMin + 4
	}
	step := niceCeil((m - c.YMin) / 4)
	if c.Unit == "" {
		step = math.Max(1, math.Ceil(step)) // counts: whole ticks
	}
	return c.YMin + 4*step
}

// niceCeil rounds up to 1, 2, 2.5 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// ticks are the value axis' labels: five steps from YMin to the top.
func (c Chart) ticks() []float64 {
	top := c.axisMax()
	out := make([]float64, 5)
	for i := range out {
		out[i] = c.YMin + (top-c.YMin)*float64(i)/4
	}
	return out
}

func tickLabel(v float64, unit string) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if math.Abs(v-math.Round(v)) > 1e-9 {
		s = strconv.FormatFloat(v, 'f', 1, 64)
	}
	return s + unit
}

// palette is the series colours (RGB), readable on white and in grey.
var palette = [][3]int{{31, 119, 180}, {214, 39, 40}, {44, 160, 44}, {255, 127, 14}, {148, 103, 189}, {140, 86, 75}}

func color(i int) [3]int { return palette[i%len(palette)] }

func hexColor(c [3]int) string { return fmt.Sprintf("#%02x%02x%02x", c[0], c[1], c[2]) }

// labelStep thins x labels so at most about max show.
func labelStep(n, max int) int {
	if n <= max {
		return 1
	}
	return (n + max - 1) / max
}

// rowsWord is "1 row", "5 rows".
func rowsWord(n int) string {
	if n == 1 {
		return "1 row"
	}
	return strconv.Itoa(n) + " rows"
}
