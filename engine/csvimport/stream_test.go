package csvimport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/rmmhq/rmm/store"
)

// repeatReader yields n bytes of b.
type repeatReader struct {
	b byte
	n int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), r.n)
	for i := range p[:k] {
		p[i] = r.b
	}
	r.n -= k
	return int(k), nil
}

// TestA16MBCellIsRefusedWithItsLineAndColumnWithoutBeingRead is
// reliability F13: a 16 MB description was accepted as is. It is now
// refused as soon as it passes MaxCellBytes, so the file is not read
// much further than that, naming the line and the column.
func TestA16MBCellIsRefusedWithItsLineAndColumnWithoutBeingRead(t *testing.T) {
	for _, quoted := range []bool{false, true} {
		t.Run(fmt.Sprintf("quoted=%v", quoted), func(t *testing.T) {
			q := ""
			if quoted {
				q = `"`
			}
			src := &countingReader{r: io.MultiReader(
				strings.NewReader("Hostname,Site,Description\nWS-1,hq,short\nWS-2,hq,"+q),
				&repeatReader{b: 'a', n: 16 << 20},
				strings.NewReader(q+"\nWS-3,hq,x\n"))}
			_, _, err := Parse("big.csv", src)
			want := "big.csv:3: Description: cell of more than 65536 bytes (at most 64 KiB per cell)"
			var p *Problem
			if err == nil || err.Error() != want || !errors.As(err, &p) {
				t.Fatalf("err %v, want %q", err, want)
			}
			if src.n > 1<<20 {
				t.Errorf("read %d bytes of the 16 MB cell before refusing it", src.n)
			}
		})
	}
	// Through Import: nothing is stored, and the problem is listed.
	db := openDB(t)
	in := io.MultiReader(strings.NewReader("Hostname,Notes\nWS-1,"), &repeatReader{b: 'x', n: 16 << 20}, strings.NewReader("\n"))
	_, problems, err := Import(context.Background(), db, "big.csv", in, Options{SkipInvalid: true})
	if !errors.Is(err, ErrRejected) || len(problems) != 1 || problems[0].Field != "Notes" || problems[0].Line != 2 {
		t.Errorf("import: %v, problems %v", err, messages(problems))
	}
	if n, _ := db.CountDevices(context.Background()); n != 0 {
		t.Errorf("%d devices stored", n)
	}
}

func TestAbsurdCellsAreRefusedOnTheirLine(t *testing.T) {
	tests := []struct {
		name, csv string
		want      []string
	}{
		{"a NUL byte in a description", "Hostname,Description\nWS-1,a\x00b\n",
			[]string{"t.csv:2: Description: contains a NUL byte"}},
		{"an escape sequence in a site", "Hostname,Site\nWS-1,\x1b[2Jhq\n",
			[]string{"t.csv:2: Site: contains the control character 0x1B"}},
		{"a hostname like an option", "Hostname\n-rf\n",
			[]string{`t.csv:2: Hostname: invalid hostname "-rf": a label starts or ends with '-'`}},
		{"a label ending in a hyphen", "Hostname,FQDN\nWS-1,ws-1-.corp\n",
			[]string{`t.csv:2: FQDN: invalid FQDN "ws-1-.corp": a label starts or ends with '-'`}},
		{"tabs and newlines in a description are fine", "Hostname,Description\nWS-1,\"a\tb\nc\"\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, problems, err := Parse("t.csv", strings.NewReader(tt.csv))
			if err != nil {
				t.Fatal(err)
			}
			if got := messages(problems); !reflect.DeepEqual(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("problems\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestAStreamKeepsAThousandProblemsAndCountsTheRest(t *testing.T) {
	var b strings.Builder
	b.WriteString("Hostname,Port\n")
	for i := range 2500 {
		fmt.Fprintf(&b, "WS-%d,x\n", i)
	}
	s := NewStream("many.csv", strings.NewReader(b.String()), Options{})
	err := s.Each(func(store.DeviceInput) error { t.Fatal("a device of a rejected file reached the writer"); return nil })
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "2500 invalid rows") {
		t.Errorf("err %v", err)
	}
	if len(s.Problems()) != 1000 || s.Omitted() != 1500 {
		t.Errorf("%d problems kept, %d omitted; want 1000 and 1500", len(s.Problems()), s.Omitted())
	}
}

func TestAStreamReportsProgressAndItsFirstHosts(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("Hostname\n")
	n := 2*ProgressEvery + 5
	for i := range n {
		fmt.Fprintf(&b, "WS-%06d\n", i)
	}
	size := int64(b.Len())
	var calls [][2]int64
	s := NewStream("p.csv", &b, Options{Progress: func(rows int, bytes int64) { calls = append(calls, [2]int64{int64(rows), bytes}) }})
	got := 0
	if err := s.Each(func(store.DeviceInput) error { got++; return nil }); err != nil {
		t.Fatal(err)
	}
	if got != n || s.Rows() != n || len(s.Hosts()) != maxSample || s.Hosts()[0] != "WS-000000" {
		t.Errorf("%d devices, rows %d, hosts %d", got, s.Rows(), len(s.Hosts()))
	}
	if len(calls) != 3 || calls[0][0] != ProgressEvery || calls[2] != [2]int64{int64(n), size} {
		t.Errorf("progress calls %v, want at %d, %d and the end (%d rows, %d bytes)", calls, ProgressEvery, 2*ProgressEvery, n, size)
	}
}
