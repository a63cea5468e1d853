package report

import (
	"encoding/csv"
	"io"
	"time"

	"github.com/rmmhq/rmm/csvsafe"
)

// CSV writes the document as sections: a summary (title, scope, key
// figures, notes), then each table as a title row, a header row and its
// rows, sections separated by an empty row. Text from hosts and people
// goes through csvsafe.Cell; charts are not in a CSV (their data is in
// the tables).
func CSV(w io.Writer, d Document) error {
	cw := csv.NewWriter(w)
	rec := func(cells ...string) { _ = cw.Write(cells) }
	rec(csvsafe.Cell(d.Title))
	if d.Org != "" {
		rec("Organisation", csvsafe.Cell(d.Org))
	}
	if d.Subtitle != "" {
		rec("Scope", csvsafe.Cell(d.Subtitle))
	}
	rec("Generated", d.Generated.UTC().Format(time.RFC3339))
	for _, f := range d.Facts {
		rec(csvsafe.Cell(f.Label), csvsafe.Cell(f.Value))
	}
	for _, n := range d.Notes {
		rec("Note", csvsafe.Cell(n))
	}
	for _, t := range d.Tables {
		rec()
		rec(csvsafe.Cell(t.Title))
		hdr := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			hdr[i] = c.Title
		}
		rec(hdr...)
		for _, row := range t.Rows {
			out := make([]string, len(row))
			for i, c := range row {
				if c.Host {
					out[i] = csvsafe.Cell(c.Text)
				} else {
					out[i] = c.Text
				}
			}
			rec(out...)
		}
	}
	cw.Flush()
	return cw.Error()
}
