package ui

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// Thousands formats n with comma thousands separators: 9874 -> "9,874",
// 10000 -> "10,000".
func Thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	if len(s) <= 3 {
		if neg {
			return "-" + s
		}
		return s
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	head := len(s) % 3
	if head == 0 {
		head = 3
	}
	b.WriteString(s[:head])
	for i := head; i < len(s); i += 3 {
		b.WriteByte(',')
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// Uptime is a running time as an admin reads it: "3d 4h", "5h 12m",
// "42m", "30s".
func Uptime(d time.Duration) string {
	d = max(d, 0).Truncate(time.Second)
	days, h, mi := int(d/(24*time.Hour)), int(d/time.Hour)%24, int(d/time.Minute)%60
	switch {
	case days > 0:
		return itoa(days) + "d " + itoa(h) + "h"
	case h > 0:
		return itoa(h) + "h " + itoa(mi) + "m"
	case mi > 0:
		return itoa(mi) + "m"
	}
	return itoa(int(d/time.Second)) + "s"
}

// RelativeAge is how long ago t was.
func RelativeAge(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m ago"
	case d < 24*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h ago"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d ago"
}

// RelativeIn says how far ahead t is, seen from now, in the largest
// whole unit: "in 12s", "in 3m", "in 5h", "in 2d"; "now" for a time
// reached or passed (a job about to run), "never" for the zero time.
func RelativeIn(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := t.Sub(now)
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return "in " + strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return "in " + strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 24*time.Hour:
		return "in " + strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return "in " + strconv.Itoa(int(d/(24*time.Hour))) + "d"
}

// Compact formats a counter in at most four characters, rounding down so
// it never overstates: 950, 2.1k, 48k, 1.2M.
func Compact(n int64) string {
	neg := n < 0
	if neg {
		n = -n
	}
	var s string
	switch {
	case n < 1000:
		s = strconv.FormatInt(n, 10)
	case n < 10_000:
		s = strconv.FormatInt(n/1000, 10) + "." + strconv.FormatInt(n%1000/100, 10) + "k"
	case n < 1_000_000:
		s = strconv.FormatInt(n/1000, 10) + "k"
	case n < 10_000_000:
		s = strconv.FormatInt(n/1_000_000, 10) + "." + strconv.FormatInt(n%1_000_000/100_000, 10) + "M"
	default:
		s = strconv.FormatInt(n/1_000_000, 10) + "M"
	}
	if neg {
		return "-" + s
	}
	return s
}

// stampLayout is how the list views write an absolute time, in the
// console's zone (that of Options.Now: local by default).
const stampLayout = "2006-01-02 15:04"

// stamp is an absolute time with its age: "2026-03-14 08:10 (1h ago)";
// "never" for the zero time.
func (m *Model) stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	now := m.now()
	return t.In(now.Location()).Format(stampLayout) + " (" + RelativeAge(now, t) + ")"
}

// stampAhead is a coming time with how far ahead it is: "2026-03-14
// 10:00 (in 30m)"; "-" for the zero time.
func (m *Model) stampAhead(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	now := m.now()
	return t.In(now.Location()).Format(stampLayout) + " (" + RelativeIn(now, t) + ")"
}

// Took formats how long a sweep took, short and human: "850ms", "2.1s",
// "42s", "3m05s", "1h02m".
func Took(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < time.Second:
		return strconv.Itoa(int(d/time.Millisecond)) + "ms"
	case d < 10*time.Second:
		return strconv.FormatFloat(math.Floor(d.Seconds()*10)/10, 'f', 1, 64) + "s"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		m := int(d / time.Minute)
		s := int((d % time.Minute) / time.Second)
		return strconv.Itoa(m) + "m" + twoDigits(s) + "s"
	}
	h := int(d / time.Hour)
	m := int((d % time.Hour) / time.Minute)
	return strconv.Itoa(h) + "h" + twoDigits(m) + "m"
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// Percent formats a 0..100 metric with one decimal: "12.5%". Values out of
// range are clamped; NaN is "-".
func Percent(v float64) string {
	return string(appendPercent(nil, v))
}

// appendPercent is Percent without allocating, for the grid.
func appendPercent(dst []byte, v float64) []byte {
	if math.IsNaN(v) {
		return append(dst, '-')
	}
	return append(strconv.AppendFloat(dst, clampPct(v), 'f', 1, 64), '%')
}

func clampPct(v float64) float64 {
	switch {
	case math.IsNaN(v), v < 0:
		return 0
	case v > 100:
		return 100
	}
	return v
}

// Truncate shortens s to at most width terminal cells, ending it with
// ellipsis when it had to cut ("LONDON-FILESE…" or "LONDON-FILE..."). It
// counts cells, not bytes, so wide characters are safe.
func Truncate(s string, width int, ellipsis string) string {
	if width <= 0 {
		return ""
	}
	if ansi.StringWidth(s) <= width {
		return s
	}
	if ansi.StringWidth(ellipsis) >= width {
		return ansi.Truncate(s, width, "")
	}
	return ansi.Truncate(s, width, ellipsis)
}

// fit truncates s to width cells and pads it with spaces to exactly width,
// on the right (left-aligned text) or on the left (right-aligned numbers).
func fit(s string, width int, right bool, ellipsis string) string {
	s = Truncate(s, width, ellipsis)
	gap := width - ansi.StringWidth(s)
	if gap <= 0 {
		return s
	}
	if right {
		return strings.Repeat(" ", gap) + s
	}
	return s + strings.Repeat(" ", gap)
}

// barSplit divides a bar of width cells showing v (0..100) into whole
// filled cells and the eighths (or whatever steps a theme has) of one
// partly filled cell: steps is the number of sub-steps per cell, 1 for
// themes that fill whole cells only.
func barSplit(v float64, width, steps int) (whole, rest int) {
	n := int(math.Round(clampPct(v) / 100 * float64(width*steps)))
	return n / steps, n % steps
}

// ShortOS shortens a Windows caption for the grid: "Microsoft Windows
// Server 2019 Datacenter" is "Server 2019 Datacenter", "Microsoft Windows
// 11 Enterprise" is "Win 11 Enterprise". Anything else is kept.
func ShortOS(name string) string {
	s := strings.TrimPrefix(strings.TrimSpace(name), "Microsoft ")
	switch {
	case strings.HasPrefix(s, "Windows Server "):
		return strings.TrimPrefix(s, "Windows ")
	case strings.HasPrefix(s, "Windows "):
		return "Win " + strings.TrimPrefix(s, "Windows ")
	}
	return s
}
