package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// XLSX writes the document as a workbook: a Summary sheet (title, scope,
// key figures, notes) and one sheet per table, its header bold and
// frozen, an auto-filter on it, numbers stored as numbers. Text is stored
// as text cells, which a spreadsheet never evaluates as a formula.
func XLSX(w io.Writer, d Document) error {
	f := excelize.NewFile()
	defer f.Close()
	f.SetDocProps(&excelize.DocProperties{Title: d.Title, Creator: "rmm", Created: d.Generated.UTC().Format(time.RFC3339)})
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	title, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 16}})
	if err != nil {
		return err
	}
	header, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true},
		Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"F3F4F8"}}})
	if err != nil {
		return err
	}
	const summary = "Summary"
	if err := f.SetSheetName("Sheet1", summary); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(summary)
	if err != nil {
		return err
	}
	if err := sw.SetColWidth(1, 1, 34); err != nil {
		return err
	}
	if err := sw.SetColWidth(2, 2, 70); err != nil {
		return err
	}
	row := 1
	put := func(cells ...any) error {
		ref, _ := excelize.CoordinatesToCellName(1, row)
		row++
		return sw.SetRow(ref, cells)
	}
	steps := []func() error{
		func() error { return put(excelize.Cell{StyleID: title, Value: d.Title}) },
		func() error { return put("Organisation", d.Org) },
		func() error { return put("Scope", d.Subtitle) },
		func() error { return put("Generated", d.Generated.UTC().Format("2006-01-02 15:04 UTC")) },
		func() error { return put() },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	for _, fa := range d.Facts {
		if err := put(excelize.Cell{StyleID: bold, Value: fa.Label}, fa.Value); err != nil {
			return err
		}
	}
	for _, n := range d.Notes {
		if err := put(excelize.Cell{StyleID: bold, Value: "Note"}, n); err != nil {
			return err
		}
	}
	if err := put(); err != nil {
		return err
	}
	names := map[string]bool{strings.ToLower(summary): true}
	for _, t := range d.Tables {
		if err := put(excelize.Cell{StyleID: bold, Value: t.Title}, fmt.Sprintf("sheet %s, %d rows", sheetName(t, names, false), len(t.Rows))); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}

	for _, t := range d.Tables {
		name := sheetName(t, names, true)
		if _, err := f.NewSheet(name); err != nil {
			return err
		}
		if err := writeSheet(f, name, t, header); err != nil {
			return fmt.Errorf("sheet %s: %w", name, err)
		}
	}
	return f.Write(w)
}

// sheetName is a unique sheet name for t: Excel allows 31 characters and
// none of : \ / ? * [ ]. take records it as used.
func sheetName(t Table, used map[string]bool, take bool) string {
	base := t.Name
	if base == "" {
		base = t.Title
	}
	base = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`:\/?*[]`, r) {
			return '-'
		}
		return r
	}, base)
	if len(base) > 28 {
		base = base[:28]
	}
	name := base
	for i := 2; used[strings.ToLower(name)]; i++ {
		name = fmt.Sprintf("%s %d", base, i)
	}
	if take {
		used[strings.ToLower(name)] = true
	}
	return name
}

func writeSheet(f *excelize.File, name string, t Table, header int) error {
	sw, err := f.NewStreamWriter(name)
	if err != nil {
		return err
	}
	for i, c := range t.Columns {
		w := float64(len(c.Title) + 4)
		for r, row := range t.Rows {
			if r == 300 {
				break
			}
			if i < len(row) {
				w = max(w, float64(len(row[i].Text)+2))
			}
		}
		if err := sw.SetColWidth(i+1, i+1, min(w, 60)); err != nil {
			return err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	hdr := make([]any, len(t.Columns))
	for i, c := range t.Columns {
		hdr[i] = excelize.Cell{StyleID: header, Value: c.Title}
	}
	if err := sw.SetRow("A1", hdr); err != nil {
		return err
	}
	for r, row := range t.Rows {
		cells := make([]any, len(row))
		for i, c := range row {
			if c.IsNum {
				cells[i] = c.Num
			} else {
				cells[i] = c.Text
			}
		}
		ref, _ := excelize.CoordinatesToCellName(1, r+2)
		if err := sw.SetRow(ref, cells); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	if len(t.Columns) > 0 {
		last, _ := excelize.CoordinatesToCellName(len(t.Columns), max(1, len(t.Rows)+1))
		if err := f.AutoFilter(name, "A1:"+last, nil); err != nil {
			return err
		}
	}
	return nil
}
