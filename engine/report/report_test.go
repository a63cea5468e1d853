package report

import (
	"bytes"
	"encoding/csv"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ledongthuc/pdf"
	"github.com/xuri/excelize/v2"
	"golang.org/x/net/html"
)

// sampleDocument has what every real report has: figures, a note, a
// line chart with a gap, a bar chart, and tables with text from hosts
// (one of them a formula, one markup), numbers and a detail table.
func sampleDocument() Document {
	days := []string{"11-01", "11-02", "11-03", "11-04", "11-05"}
	return Document{
		Title: "Uptime and SLA", Org: "Contoso IT", Subtitle: "site hq, 2026-11-01 to 2026-11-30 (Europe/Berlin)",
		Generated: time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC),
		Facts:     []Fact{{"Fleet availability", "99.42%"}, {"Devices", "3"}, {"Outages", "2"}, {"SLA target", "99.5%"}},
		Notes:     []string{"Days before 2026-10-01 come from daily rollups (UTC days)."},
		Charts: []Chart{
			{Title: "Availability per day", Kind: "line", Unit: "%", YMin: 90, YMax: 100, Labels: days,
				Series: []Series{{Name: "hq", Values: []float64{100, 99.5, math.NaN(), 97.25, 100}}, {Name: "branch", Values: []float64{98, 99, 100, 100, 100}}}},
			{Title: "Alerts raised per day", Kind: "bar", Labels: days,
				Series: []Series{{Name: "Critical", Values: []float64{1, 0, 3, 2, 0}}}},
		},
		Tables: []Table{
			{Name: "Devices", Title: "Availability per device", Columns: []Column{{Title: "Device"}, {Title: "Site"}, {Title: "Availability %", Numeric: true}, {Title: "Polls", Numeric: true}},
				Rows: [][]Cell{
					{HostText("WS-042"), HostText("hq"), Percent(99.95), Int(8640)},
					{HostText("=HYPERLINK(\"http://evil\")"), HostText("hq"), Percent(97.5), Int(8000)},
					{HostText("<script>alert(1)</script>"), HostText("branch"), Number(-3.5, 1), Int(10)},
				}},
			{Name: "Outages", Title: "Outages", Columns: []Column{{Title: "Device"}, {Title: "Start"}, {Title: "Minutes", Numeric: true}}},
			{Name: "Software", Title: "Software per device", Detail: true, Columns: []Column{{Title: "Device"}, {Title: "Application"}},
				Rows: [][]Cell{{HostText("WS-042"), HostText("7-Zip 23.01 (x64)")}}},
		},
	}
}

func render(t *testing.T, format string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, sampleDocument(), format); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestCSVHasEverySectionAndNeutralisesFormulasFromHosts(t *testing.T) {
	r := csv.NewReader(bytes.NewReader(render(t, "csv")))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, rec := range recs {
		lines = append(lines, strings.Join(rec, "|"))
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{
		"Uptime and SLA", "Fleet availability|99.42%", "Note|Days before",
		"Availability per device\nDevice|Site|Availability %|Polls\nWS-042|hq|99.95|8640",
		`'=HYPERLINK("http://evil")|hq|97.50|8000`, "|branch|-3.5|10", // a number stays a number
		"Software per device\nDevice|Application\nWS-042|7-Zip 23.01 (x64)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("CSV lacks %q:\n%s", want, text)
		}
	}
}

func TestHTMLIsOnePageWithSVGChartsAndEscapedHostText(t *testing.T) {
	doc, err := html.Parse(bytes.NewReader(render(t, "html")))
	if err != nil {
		t.Fatal(err)
	}
	var (
		svgs, polylines, rects, scripts int
		cells                           []string
		h2                              []string
	)
	var walk func(n *html.Node)
	text := func(n *html.Node) string {
		var b strings.Builder
		var f func(*html.Node)
		f = func(n *html.Node) {
			if n.Type == html.TextNode {
				b.WriteString(n.Data)
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				f(c)
			}
		}
		f(n)
		return b.String()
	}
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "svg":
				svgs++
			case "polyline":
				polylines++
			case "rect":
				rects++
			case "script":
				scripts++
			case "td":
				cells = append(cells, text(n))
			case "h2":
				h2 = append(h2, text(n))
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	// The line chart has a gap: two series, the first in two runs.
	if svgs != 2 || polylines != 3 || rects < 3 || scripts != 0 {
		t.Fatalf("svg %d polylines %d rects %d scripts %d", svgs, polylines, rects, scripts)
	}
	if !contains(cells, "<script>alert(1)</script>") || !contains(cells, "99.95") {
		t.Fatalf("cells %q", cells)
	}
	if strings.Join(h2, "|") != "Availability per day|Alerts raised per day|Availability per device|Outages|Software per device" {
		t.Fatalf("headings %q", h2)
	}
	if contains(cells, "7-Zip 23.01 (x64)") {
		t.Fatal("the detail table was printed in the HTML")
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// pdfText extracts each page's text.
func pdfText(t *testing.T, b []byte) []string {
	t.Helper()
	r, err := pdf.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var pages []string
	for i := 1; i <= r.NumPage(); i++ {
		p := r.Page(i)
		if p.V.IsNull() {
			continue
		}
		var sb strings.Builder
		for _, row := range mustRows(t, p) {
			for _, w := range row.Content {
				sb.WriteString(w.S)
			}
			sb.WriteString("\n")
		}
		pages = append(pages, sb.String())
	}
	return pages
}

func mustRows(t *testing.T, p pdf.Page) pdf.Rows {
	t.Helper()
	rows, err := p.GetTextByRow()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestPDFOpensWithTheFiguresTheChartsAndTheTables(t *testing.T) {
	b := render(t, "pdf")
	if !bytes.HasPrefix(b, []byte("%PDF-")) {
		t.Fatalf("not a PDF: %q", b[:16])
	}
	pages := pdfText(t, b)
	all := strings.Join(pages, "\n")
	for _, want := range []string{"Uptime and SLA", "Contoso IT", "99.42%", "Fleet availability", "Availability per day",
		"100%", "Alerts raised per day", "WS-042", "99.95", "=HYPERLINK", "page 1 of", "row: in the CSV and XLSX"} {
		if !strings.Contains(all, want) {
			t.Errorf("PDF text lacks %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "7-Zip") {
		t.Error("the detail table was printed in the PDF")
	}
	if !bytes.Equal(b, render(t, "pdf")) {
		t.Error("the same document rendered twice differs (creation date not pinned?)")
	}
}

func TestXLSXHasASheetPerTableWithNumbersAsNumbers(t *testing.T) {
	f, err := excelize.OpenReader(bytes.NewReader(render(t, "xlsx")))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := strings.Join(f.GetSheetList(), ","); got != "Summary,Devices,Outages,Software" {
		t.Fatalf("sheets %s", got)
	}
	get := func(sheet, cell string) string {
		v, err := f.GetCellValue(sheet, cell)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if get("Summary", "A1") != "Uptime and SLA" || get("Summary", "A6") != "Fleet availability" || get("Summary", "B6") != "99.42%" {
		t.Fatalf("summary %q %q %q", get("Summary", "A1"), get("Summary", "A6"), get("Summary", "B6"))
	}
	if get("Devices", "A1") != "Device" || get("Devices", "A3") != `=HYPERLINK("http://evil")` || get("Devices", "D2") != "8640" {
		t.Fatalf("devices sheet %q %q %q", get("Devices", "A1"), get("Devices", "A3"), get("Devices", "D2"))
	}
	if typ, _ := f.GetCellType("Devices", "C2"); typ != excelize.CellTypeUnset && typ != excelize.CellTypeNumber {
		t.Fatalf("a percentage stored as %v, want a number", typ)
	}
	if formula, _ := f.GetCellFormula("Devices", "A3"); formula != "" {
		t.Fatalf("host text became a formula: %q", formula)
	}
	if get("Software", "B2") != "7-Zip 23.01 (x64)" {
		t.Fatal("the detail table is missing from the workbook")
	}
}

func TestUnknownFormatsAreRefused(t *testing.T) {
	if err := Render(&bytes.Buffer{}, sampleDocument(), "docx"); err == nil || !strings.Contains(err.Error(), "not one of csv, html, pdf, xlsx") {
		t.Fatalf("error %v", err)
	}
}
