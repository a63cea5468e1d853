package report

import (
	"fmt"
	"io"
	"math"

	"codeberg.org/go-pdf/fpdf"
)

// PDF page geometry (A4 portrait, millimetres).
const (
	pdfMargin = 14.0
	pdfRowH   = 5.0
	pdfMaxRow = 2000 // rows a table prints on paper; the rest are counted
)

// PDF writes the document as an A4 PDF: the key figures, the notes, the
// charts drawn as vectors, then the tables (their header repeated on each
// page). The core Helvetica font covers Windows-1252; other characters
// print as '?'.
func PDF(w io.Writer, d Document) error {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetMargins(pdfMargin, pdfMargin, pdfMargin)
	pdf.SetAutoPageBreak(false, pdfMargin)
	pdf.SetCatalogSort(true) // the same document gives the same bytes
	pdf.SetCreationDate(d.Generated)
	pdf.SetModificationDate(d.Generated)
	pdf.SetTitle(d.Title, true)
	pdf.SetAuthor(orDefault(d.Org, "rmm"), true)
	pdf.SetCreator("rmm", true)
	pdf.AliasNbPages("{nb}")
	tr := pdf.UnicodeTranslatorFromDescriptor("")
	pageW, pageH := pdf.GetPageSize()
	usable := pageW - 2*pdfMargin
	pdf.SetFooterFunc(func() {
		pdf.SetY(pageH - pdfMargin + 4)
		pdf.SetFont("Helvetica", "", 7)
		pdf.SetTextColor(120, 120, 120)
		pdf.CellFormat(usable/2, 4, tr(d.Title+" - "+orDefault(d.Org, "rmm")), "", 0, "L", false, 0, "")
		pdf.CellFormat(usable/2, 4, fmt.Sprintf("page %d of {nb}", pdf.PageNo()), "", 0, "R", false, 0, "")
		pdf.SetTextColor(0, 0, 0)
	})
	room := func(h float64) bool { return pdf.GetY()+h <= pageH-pdfMargin-2 }
	need := func(h float64) {
		if !room(h) {
			pdf.AddPage()
		}
	}
	pdf.AddPage()

	pdf.SetFont("Helvetica", "B", 18)
	pdf.CellFormat(usable, 9, tr(d.Title), "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 9)
	pdf.SetTextColor(90, 90, 90)
	sub := d.Subtitle
	if d.Org != "" {
		sub = d.Org + " | " + sub
	}
	pdf.MultiCell(usable, 4.5, tr(sub+" | generated "+d.Generated.UTC().Format("2006-01-02 15:04 UTC")), "", "L", false)
	pdf.SetTextColor(0, 0, 0)
	pdf.Ln(3)

	if len(d.Facts) > 0 {
		boxW, boxH := (usable-9)/4, 14.0
		for i, f := range d.Facts {
			if i%4 == 0 {
				need(boxH + 2)
				if i > 0 {
					pdf.Ln(boxH + 2)
				}
			}
			x := pdfMargin + float64(i%4)*(boxW+3)
			y := pdf.GetY()
			pdf.SetDrawColor(200, 200, 215)
			pdf.Rect(x, y, boxW, boxH, "D")
			pdf.SetXY(x+2, y+1.5)
			pdf.SetFont("Helvetica", "B", 12)
			pdf.CellFormat(boxW-4, 6, tr(fit(pdf, f.Value, boxW-4)), "", 2, "L", false, 0, "")
			pdf.SetX(x + 2)
			pdf.SetFont("Helvetica", "", 7.5)
			pdf.SetTextColor(90, 90, 90)
			pdf.CellFormat(boxW-4, 4, tr(fit(pdf, f.Label, boxW-4)), "", 0, "L", false, 0, "")
			pdf.SetTextColor(0, 0, 0)
			pdf.SetXY(pdfMargin, y)
		}
		pdf.Ln(boxH + 5)
	}
	for _, n := range d.Notes {
		pdf.SetFont("Helvetica", "", 8.5)
		lines := pdf.SplitText(tr(n), usable-6)
		h := float64(len(lines))*4 + 3
		need(h)
		y := pdf.GetY()
		pdf.SetFillColor(255, 248, 225)
		pdf.Rect(pdfMargin, y, usable, h, "F")
		pdf.SetFillColor(249, 168, 37)
		pdf.Rect(pdfMargin, y, 1.2, h, "F")
		pdf.SetXY(pdfMargin+3, y+1.5)
		for _, l := range lines {
			pdf.CellFormat(usable-6, 4, l, "", 2, "L", false, 0, "")
		}
		pdf.SetY(y + h + 2)
	}
	for _, c := range d.Charts {
		need(78)
		y := pdf.GetY()
		drawChart(pdf, tr, c, pdfMargin, y, usable, 70)
		pdf.SetY(y + 76)
	}
	for _, t := range d.Tables {
		drawTable(pdf, tr, t, usable, need, room)
	}
	return pdf.Output(w)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// fit cuts s to width w in the current font, marking the cut.
func fit(pdf *fpdf.Fpdf, s string, w float64) string {
	if pdf.GetStringWidth(s) <= w {
		return s
	}
	r := []rune(s)
	for len(r) > 0 && pdf.GetStringWidth(string(r)+"...") > w {
		r = r[:len(r)-1]
	}
	return string(r) + "..."
}

// drawChart draws c in the box at x, y of width w and height h: title,
// value grid, the series as lines or bars, x labels and a legend.
func drawChart(pdf *fpdf.Fpdf, tr func(string) string, c Chart, x, y, w, h float64) {
	pdf.SetFont("Helvetica", "B", 10)
	pdf.SetXY(x, y)
	pdf.CellFormat(w, 5, tr(c.Title), "", 0, "L", false, 0, "")
	left, top := x+14, y+8
	plotW, plotH := w-16, h-22
	lo, hi := c.YMin, c.axisMax()
	py := func(v float64) float64 {
		v = math.Max(lo, math.Min(hi, v))
		return top + plotH*(1-(v-lo)/(hi-lo))
	}
	pdf.SetFont("Helvetica", "", 6.5)
	pdf.SetLineWidth(0.1)
	for _, t := range c.ticks() {
		pdf.SetDrawColor(225, 225, 225)
		pdf.Line(left, py(t), left+plotW, py(t))
		pdf.SetXY(x, py(t)-2)
		pdf.CellFormat(13, 4, tickLabel(t, c.Unit), "", 0, "R", false, 0, "")
	}
	pdf.SetDrawColor(140, 140, 140)
	pdf.Line(left, top+plotH, left+plotW, top+plotH)
	n := len(c.Labels)
	slot := plotW / math.Max(1, float64(n))
	step := labelStep(n, 10)
	for i, l := range c.Labels {
		if i%step == 0 {
			pdf.SetXY(left+slot*float64(i)+slot/2-12, top+plotH+1)
			pdf.CellFormat(24, 4, tr(l), "", 0, "C", false, 0, "")
		}
	}
	for si, s := range c.Series {
		col := color(si)
		pdf.SetDrawColor(col[0], col[1], col[2])
		pdf.SetFillColor(col[0], col[1], col[2])
		pdf.SetLineWidth(0.5)
		if c.Kind == "bar" {
			bw := slot * 0.8 / float64(len(c.Series))
			for i, v := range s.Values {
				if math.IsNaN(v) || i >= n || v <= lo {
					continue
				}
				bx := left + slot*float64(i) + slot*0.1 + bw*float64(si)
				pdf.Rect(bx, py(v), bw, top+plotH-py(v), "F")
			}
		} else {
			var px, pyPrev float64
			have := false
			for i, v := range s.Values {
				if math.IsNaN(v) || i >= n {
					have = false
					continue
				}
				cx, cy := left+slot*(float64(i)+0.5), py(v)
				if have {
					pdf.Line(px, pyPrev, cx, cy)
				} else {
					pdf.Circle(cx, cy, 0.35, "F")
				}
				px, pyPrev, have = cx, cy, true
			}
		}
		// legend: the series share the width under the plot
		lx := left + float64(si)*math.Min(45, plotW/float64(len(c.Series)))
		ly := y + h - 6
		pdf.Rect(lx, ly+0.8, 3, 3, "F")
		pdf.SetXY(lx+4, ly)
		pdf.SetFont("Helvetica", "", 7)
		pdf.CellFormat(math.Min(40, plotW/float64(len(c.Series))-5), 4.5, tr(fit(pdf, s.Name, math.Min(40, plotW/float64(len(c.Series))-5))), "", 0, "L", false, 0, "")
	}
	pdf.SetLineWidth(0.2)
	pdf.SetDrawColor(0, 0, 0)
}

// drawTable prints a table: its title, then rows with the header repeated
// at the top of each page. Column widths follow their content.
func drawTable(pdf *fpdf.Fpdf, tr func(string) string, t Table, usable float64, need func(float64), room func(float64) bool) {
	need(18)
	pdf.Ln(2)
	pdf.SetFont("Helvetica", "B", 11)
	pdf.CellFormat(usable, 6, tr(t.Title), "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 8)
	if t.Note != "" {
		pdf.SetTextColor(90, 90, 90)
		pdf.MultiCell(usable, 4, tr(t.Note), "", "L", false)
		pdf.SetTextColor(0, 0, 0)
	}
	switch {
	case t.Detail:
		pdf.CellFormat(usable, 5, tr(rowsWord(len(t.Rows))+": in the CSV and XLSX versions of this report."), "", 1, "L", false, 0, "")
		return
	case len(t.Rows) == 0:
		pdf.CellFormat(usable, 5, "None.", "", 1, "L", false, 0, "")
		return
	}
	widths := columnWidths(pdf, tr, t, usable)
	header := func() {
		pdf.SetFont("Helvetica", "B", 7.5)
		pdf.SetFillColor(243, 244, 248)
		for i, c := range t.Columns {
			align := "L"
			if c.Numeric {
				align = "R"
			}
			pdf.CellFormat(widths[i], pdfRowH+0.5, tr(fit(pdf, c.Title, widths[i]-1.5)), "B", 0, align, true, 0, "")
		}
		pdf.Ln(-1)
		pdf.SetFont("Helvetica", "", 7.5)
	}
	header()
	rows := t.Rows
	if len(rows) > pdfMaxRow {
		rows = rows[:pdfMaxRow]
	}
	for _, row := range rows {
		if !room(pdfRowH) {
			pdf.AddPage()
			header()
		}
		for i := range t.Columns {
			var c Cell
			if i < len(row) {
				c = row[i]
			}
			align := "L"
			if c.IsNum || t.Columns[i].Numeric {
				align = "R"
			}
			pdf.SetDrawColor(230, 230, 230)
			pdf.CellFormat(widths[i], pdfRowH, tr(fit(pdf, c.Text, widths[i]-1.5)), "B", 0, align, false, 0, "")
		}
		pdf.Ln(-1)
	}
	if len(t.Rows) > pdfMaxRow {
		pdf.CellFormat(usable, 5, tr(fmt.Sprintf("... and %d more rows: in the CSV and XLSX versions of this report.", len(t.Rows)-pdfMaxRow)), "", 1, "L", false, 0, "")
	}
	pdf.SetDrawColor(0, 0, 0)
	pdf.Ln(2)
}

// columnWidths shares the page width among the columns by the width of
// their widest cell (the header and the first 300 rows), each at least a
// little and none hogging the page.
func columnWidths(pdf *fpdf.Fpdf, tr func(string) string, t Table, usable float64) []float64 {
	pdf.SetFont("Helvetica", "", 7.5)
	want := make([]float64, len(t.Columns))
	for i, c := range t.Columns {
		want[i] = pdf.GetStringWidth(tr(c.Title)) + 3
	}
	for r, row := range t.Rows {
		if r == 300 {
			break
		}
		for i := range t.Columns {
			if i < len(row) {
				want[i] = math.Max(want[i], pdf.GetStringWidth(tr(row[i].Text))+3)
			}
		}
	}
	total := 0.0
	for i := range want {
		want[i] = math.Min(math.Max(want[i], 10), usable*0.45)
		total += want[i]
	}
	for i := range want {
		want[i] *= usable / total
	}
	return want
}
