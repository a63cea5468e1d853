package ui

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/themes"
)

func TestThousands(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{0, "0"}, {7, "7"}, {200, "200"}, {999, "999"},
		{1000, "1,000"}, {9874, "9,874"}, {10000, "10,000"},
		{123456, "123,456"}, {1234567, "1,234,567"}, {-12345, "-12,345"},
	}
	for _, tt := range tests {
		if got := Thousands(tt.n); got != tt.want {
			t.Errorf("Thousands(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestRelativeAge(t *testing.T) {
	tests := []struct {
		name string
		ago  time.Duration
		zero bool
		want string
	}{
		{name: "a device never seen says never", zero: true, want: "never"},
		{name: "just now is 0s", ago: 0, want: "0s ago"},
		{name: "seconds", ago: 4 * time.Second, want: "4s ago"},
		{name: "59.9s stays in seconds", ago: 59*time.Second + 900*time.Millisecond, want: "59s ago"},
		{name: "minutes round down", ago: 3*time.Minute + 59*time.Second, want: "3m ago"},
		{name: "hours", ago: 5 * time.Hour, want: "5h ago"},
		{name: "days", ago: 12 * 24 * time.Hour, want: "12d ago"},
		{name: "a clock ahead of ours is not negative", ago: -3 * time.Second, want: "0s ago"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			then := t0.Add(-tt.ago)
			if tt.zero {
				then = time.Time{}
			}
			if got := RelativeAge(t0, then); got != tt.want {
				t.Errorf("RelativeAge = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTook(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{850 * time.Millisecond, "850ms"},
		{2100 * time.Millisecond, "2.1s"},
		{9990 * time.Millisecond, "9.9s"},
		{42 * time.Second, "42s"},
		{3*time.Minute + 5*time.Second, "3m05s"},
		{time.Hour + 2*time.Minute, "1h02m"},
	}
	for _, tt := range tests {
		if got := Took(tt.d); got != tt.want {
			t.Errorf("Took(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestPercent(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{12.5, "12.5%"}, {0, "0.0%"}, {100, "100.0%"}, {99.96, "100.0%"},
		{-3, "0.0%"}, {250, "100.0%"}, {math.NaN(), "-"},
	}
	for _, tt := range tests {
		if got := Percent(tt.v); got != tt.want {
			t.Errorf("Percent(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name     string
		s        string
		width    int
		ellipsis string
		want     string
	}{
		{"text that fits is unchanged", "WS-0001", 10, "…", "WS-0001"},
		{"exactly the width is unchanged", "WS-0001", 7, "…", "WS-0001"},
		{"long text ends in the unicode ellipsis", "LONDON-FILESERVER", 10, "…", "LONDON-FI…"},
		{"ascii themes end in three dots", "LONDON-FILESERVER", 10, "...", "LONDON-..."},
		{"wide characters are counted in cells", "東京オフィス", 7, "…", "東京オ…"},
		{"a width smaller than the ellipsis cuts plainly", "LONDON", 2, "...", "LO"},
		{"zero width is empty", "LONDON", 0, "…", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Truncate(tt.s, tt.width, tt.ellipsis)
			if got != tt.want {
				t.Errorf("Truncate(%q, %d) = %q, want %q", tt.s, tt.width, got, tt.want)
			}
			if w := ansi.StringWidth(got); w > tt.width {
				t.Errorf("width %d > %d", w, tt.width)
			}
		})
	}
}

func TestFitPadsToExactWidth(t *testing.T) {
	if got := fit("12.5%", 8, true, "…"); got != "   12.5%" {
		t.Errorf("right-aligned fit = %q", got)
	}
	if got := fit("WS-1", 8, false, "…"); got != "WS-1    " {
		t.Errorf("left-aligned fit = %q", got)
	}
}

// bar renders a bar through the grid's row writer, without colour.
func bar(v float64, partial []string) string {
	var b strings.Builder
	w := rowWriter{b: &b}
	g := themes.Glyphs{BarFull: "#", BarEmpty: ".", BarPartial: partial}
	w.bar(v, 5, &g, nil, nil)
	return b.String()
}

func TestBar(t *testing.T) {
	eighths := []string{"1", "2", "3", "4", "5", "6", "7"}
	tests := []struct {
		name    string
		v       float64
		partial []string
		want    string
	}{
		{"an idle machine has an empty track", 0, nil, "....."},
		{"a busy machine has a full bar", 100, nil, "#####"},
		{"whole-cell themes round half up", 50, nil, "###.."},
		{"themes with eighths draw a partial cell", 50, eighths, "##4.."},
		{"a sliver still shows", 2, eighths, "1...."},
		{"1 percent rounds to nothing", 1, eighths, "....."},
		{"values over 100 stay in the bar", 150, eighths, "#####"},
		{"negative values are empty", -5, eighths, "....."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bar(tt.v, tt.partial); got != tt.want {
				t.Errorf("bar(%v) = %q, want %q", tt.v, got, tt.want)
			}
		})
	}
}

func TestRelativeIn(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "now"}, {-time.Hour, "now"}, {12 * time.Second, "in 12s"}, {3*time.Minute + 59*time.Second, "in 3m"},
		{17*time.Hour + 30*time.Minute, "in 17h"}, {50 * time.Hour, "in 2d"},
	}
	for _, tt := range tests {
		if got := RelativeIn(t0, t0.Add(tt.d)); got != tt.want {
			t.Errorf("RelativeIn(+%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	if got := RelativeIn(t0, time.Time{}); got != "never" {
		t.Errorf("zero time = %q", got)
	}
}

func TestCompact(t *testing.T) {
	tests := map[int64]string{0: "0", 48: "48", 999: "999", 1000: "1.0k", 2140: "2.1k", 2199: "2.1k", 9999: "9.9k",
		10_000: "10k", 48_999: "48k", 1_250_000: "1.2M", 48_000_000: "48M", -2140: "-2.1k"}
	for n, want := range tests {
		if got := Compact(n); got != want {
			t.Errorf("Compact(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestSweepText(t *testing.T) {
	if got := SweepText(engine.SweepResult{Devices: 200, Online: 187, Offline: 13}); got != "sweep done: 187 online, 13 offline" {
		t.Errorf("SweepText = %q", got)
	}
	if got := SweepText(engine.SweepResult{Devices: 10_050, Online: 9_874, Offline: 126, Unknown: 50}); got != "sweep done: 9,874 online, 126 offline, 50 unknown" {
		t.Errorf("SweepText = %q", got)
	}
}
