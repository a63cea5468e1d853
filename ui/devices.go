package ui

import (
	"cmp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rmmhq/rmm/engine"
)

// Column is a column of the device grid, and a sort key.
type Column int

// The grid's columns, in display order. `s` cycles through the ones on
// screen; OS is shown when the terminal is wide enough.
const (
	ColHostname Column = iota
	ColSite
	ColStatus
	ColCPU
	ColMem
	ColDisk
	ColLastSeen
	ColOS
	numColumns
)

// String returns the column's title as the grid shows it.
func (c Column) String() string {
	switch c {
	case ColHostname:
		return "HOSTNAME"
	case ColSite:
		return "SITE"
	case ColStatus:
		return "STATUS"
	case ColCPU:
		return "CPU"
	case ColMem:
		return "MEM"
	case ColDisk:
		return "DISK FREE"
	case ColLastSeen:
		return "LAST SEEN"
	case ColOS:
		return "OS"
	}
	return "?"
}

// DefaultDesc is the direction a column sorts in when first chosen: the
// order that puts what needs attention on top. Busiest CPU and memory
// first, stalest last-seen first; names, sites, statuses (problems first)
// and free disk (fullest first) ascending.
func (c Column) DefaultDesc() bool {
	switch c {
	case ColCPU, ColMem, ColLastSeen:
		return true
	}
	return false
}

// statusRank orders statuses so that ascending puts problems first.
func statusRank(s engine.Status) int {
	switch s {
	case engine.StatusOffline:
		return 0
	case engine.StatusOnline:
		return 3
	case engine.StatusUnknown:
		return 2
	}
	return 1 // a status this console does not know yet: between the two
}

// CompareDevices orders two devices by column as the grid shows it:
// names naturally (WS-2 before WS-10) and case-insensitively, statuses
// problems first, metrics by value, LAST SEEN by age ("never" is the
// oldest). desc reverses that column only. Devices without metrics sort
// after those with metrics in either direction, and ties always fall back
// to hostname then ID, so the order is total and does not jitter.
func CompareDevices(a, b *engine.DeviceState, by Column, desc bool) int {
	var c int
	switch by {
	case ColHostname:
		c = NaturalCompare(a.Hostname, b.Hostname)
	case ColSite:
		c = NaturalCompare(a.Site, b.Site)
	case ColStatus:
		c = cmp.Compare(statusRank(a.Status), statusRank(b.Status))
	case ColCPU, ColMem, ColDisk:
		if a.HasMetrics != b.HasMetrics {
			if a.HasMetrics {
				return -1
			}
			return 1
		}
		if a.HasMetrics {
			c = cmp.Compare(metric(a, by), metric(b, by))
		}
	case ColLastSeen:
		// Older last-seen = larger age; the zero time (never) is the oldest.
		c = compareAge(a.LastSeen, b.LastSeen)
	case ColOS:
		c = compareOS(a, b)
	}
	if desc {
		c = -c
	}
	if c != 0 {
		return c
	}
	if by != ColHostname {
		if c = NaturalCompare(a.Hostname, b.Hostname); c != 0 {
			return c
		}
	}
	return cmp.Compare(a.ID, b.ID)
}

func metric(d *engine.DeviceState, by Column) float64 {
	switch by {
	case ColCPU:
		return d.CPUPct
	case ColMem:
		return d.MemPct
	}
	return d.DiskFreePct
}

// compareAge compares by age: a more recent time is younger (smaller).
func compareAge(a, b time.Time) int {
	switch {
	case a.IsZero() && b.IsZero():
		return 0
	case a.IsZero():
		return 1
	case b.IsZero():
		return -1
	}
	return b.Compare(a)
}

// SortDevices sorts ds in place by column (see CompareDevices).
func SortDevices(ds []engine.DeviceState, by Column, desc bool) {
	slices.SortStableFunc(ds, func(a, b engine.DeviceState) int {
		return CompareDevices(&a, &b, by, desc)
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func lowerASCII(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// NaturalCompare compares strings case-insensitively with runs of digits
// compared as numbers, the way Windows Explorer orders names: WS-2 before
// WS-10, ws-3 equal in rank to WS-3 (then ordered by byte value so the
// order stays total).
func NaturalCompare(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ca, cb := a[i], b[j]
		if isDigit(ca) && isDigit(cb) {
			// Compare the two digit runs as numbers without parsing
			// (they may be longer than any integer type).
			si, sj := i, j
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			na, nb := strings.TrimLeft(a[si:i], "0"), strings.TrimLeft(b[sj:j], "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			continue
		}
		if ca < utf8.RuneSelf && cb < utf8.RuneSelf {
			if la, lb := lowerASCII(ca), lowerASCII(cb); la != lb {
				return cmp.Compare(la, lb)
			}
			i++
			j++
			continue
		}
		ra, wa := utf8.DecodeRuneInString(a[i:])
		rb, wb := utf8.DecodeRuneInString(b[j:])
		if c := cmp.Compare(unicode.ToLower(ra), unicode.ToLower(rb)); c != 0 {
			return c
		}
		i += wa
		j += wb
	}
	if c := cmp.Compare(len(a)-i, len(b)-j); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }
