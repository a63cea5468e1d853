package psjson

import (
	"regexp"
	"testing"
	"time"
)

func TestPSDateReadsEachFormAndNamesWhatItCannot(t *testing.T) {
	boot := time.UnixMilli(1764147600000).UTC()
	for _, tt := range []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{`"\/Date(1764147600000)\/"`, boot, ""},
		{`"\/Date(1764147600000-0800)\/"`, boot, ""},
		{`{"value":"\/Date(1764147600000)\/","DisplayHint":2}`, boot, ""},
		{`"2025-11-26T09:00:00Z"`, boot, ""},
		{`null`, time.Time{}, ""},
		{`"\/Date(1764147600000+1)\/"`, time.Time{}, `date "/Date(1764147600000+1)/": not a PowerShell date`},
		{`"\/Date(99999999999999999999)\/"`, time.Time{}, `date "/Date(99999999999999999999)/": strconv.ParseInt: parsing "99999999999999999999": value out of range`},
		{`"soon"`, time.Time{}, `date "soon": not a PowerShell date`},
		{`{"DateTime":"x"}`, time.Time{}, `date object without a value member`},
	} {
		var d PSDate
		err := d.UnmarshalJSON([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%s: err %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !d.Equal(tt.want) {
			t.Errorf("%s: %v, %v; want %v", tt.in, d.Time, err, tt.want)
		}
	}
}

// psDateRE is the pattern psDateMillis replaced.
var psDateRE = regexp.MustCompile(`^/Date\((-?\d+)([+-]\d{4})?\)/$`)

func FuzzPSDateMillisMatchesItsPattern(f *testing.F) {
	for _, s := range []string{"/Date(1764147600000)/", "/Date(-1)/", "/Date(-0500)/", "/Date(1+0100)/", "/Date(1-01000)/",
		"/Date(1-)/", "/Date()/", "/Date(-)/", "/Date(12)/\n", "/Date(\u0661)/", "Date(1)", "/Date(1)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, ok := psDateMillis(s)
		m := psDateRE.FindStringSubmatch(s)
		if ok != (m != nil) || ok && ms != m[1] {
			t.Fatalf("psDateMillis(%q) = %q, %v; the pattern finds %q", s, ms, ok, m)
		}
	})
}
