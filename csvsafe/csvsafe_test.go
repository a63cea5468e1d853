package csvsafe

import (
	"bytes"
	"encoding/csv"
	"testing"
)

// formulaPayloads are the payloads of the reliability report (F7) and the
// OWASP list: each would run as a formula in a spreadsheet.
var formulaPayloads = []string{
	`=cmd|' /C calc'!A0`,
	`+SUM(1+1)*cmd|' /C calc'!A0`,
	`-2+3+cmd|' /C calc'!A0`,
	`@SUM(1+1)*cmd|' /C calc'!A0`,
	`=HYPERLINK("http://127.0.0.1/x","click")`,
	"\t=1+1",
	"\r=1+1",
	"\n=1+1",
	"\uFF1D1+1",
}

func TestCellTurnsEveryFormulaPayloadIntoText(t *testing.T) {
	for _, p := range formulaPayloads {
		got := Cell(p)
		if got != "'"+p {
			t.Errorf("Cell(%q) = %q, want a leading quote", p, got)
		}
		if Risky(got) {
			t.Errorf("Cell(%q) = %q is still risky", p, got)
		}
	}
}

func TestCellLeavesOrdinaryTextAlone(t *testing.T) {
	for _, s := range []string{"", "WS-0001", "London", "Windows 11 Pro", "a=b", "x-1", "'=already quoted", " leading space"} {
		if got := Cell(s); got != s {
			t.Errorf("Cell(%q) = %q, want it unchanged", s, got)
		}
	}
}

func TestWriterNeutralisesAllButTheComputedCells(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.Header([]string{"host", "exit_code", "message"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Row([]string{"=WS", "-1", "@SUM(A1)"}, 1); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"'=WS", "-1", "'@SUM(A1)"}
	for i, c := range recs[1] {
		if c != want[i] {
			t.Errorf("cell %d = %q, want %q", i, c, want[i])
		}
	}
}
