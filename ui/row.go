package ui

import (
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/themes"
)

// ink is a lipgloss style reduced to the escape sequences around its text.
// Grid cells are drawn with inks: Style.Render does layout work on every
// call (wrapping, padding, borders) that colouring a cell does not need,
// and a frame has hundreds of cells. Only inline styles (colour, bold,
// reverse...) may become inks.
type ink struct{ pre, post string }

func inkOf(st lipgloss.Style) ink {
	out := st.Render("X") // SGR sequences hold no 'X'
	i := strings.IndexByte(out, 'X')
	return ink{pre: out[:i], post: out[i+1:]}
}

// inks are the theme's grid styles as inks, and the status labels'
// symbols, made once in New.
type inks struct {
	muted, online, offline, unknown, warn, critical, barFill, barTrack, selected, mark ink

	onlineSym, offlineSym, unknownSym string // "● ", symbol and space
}

func newInks(th themes.Theme) inks {
	return inks{
		muted: inkOf(th.Muted), online: inkOf(th.Online), offline: inkOf(th.Offline), unknown: inkOf(th.Unknown),
		warn: inkOf(th.Warn), critical: inkOf(th.Critical),
		barFill: inkOf(th.BarFill), barTrack: inkOf(th.BarTrack), selected: inkOf(th.Selected), mark: inkOf(th.Mark),
		onlineSym: th.Glyphs.Online + " ", offlineSym: th.Glyphs.Offline + " ", unknownSym: th.Glyphs.Unknown + " ",
	}
}

const spaces = "                                                                                                    "

// rowWriter writes cells into a line. Inside the selected row it is plain:
// the whole line carries the selection ink instead of cell inks.
type rowWriter struct {
	b        *strings.Builder
	plain    bool
	ellipsis string
}

func (w *rowWriter) open(k *ink) {
	if k != nil && !w.plain {
		w.b.WriteString(k.pre)
	}
}

func (w *rowWriter) close(k *ink) {
	if k != nil && !w.plain {
		w.b.WriteString(k.post)
	}
}

func (w *rowWriter) pad(n int) {
	for n > 0 {
		k := min(n, len(spaces))
		w.b.WriteString(spaces[:k])
		n -= k
	}
}

// text writes s in k, truncated and padded to exactly width cells.
func (w *rowWriter) text(s string, width int, right bool, k *ink) {
	w.labeled("", s, width, right, k)
}

// labeled is text with a prefix (a status symbol) that is never cut.
func (w *rowWriter) labeled(prefix, s string, width int, right bool, k *ink) {
	if prefix != "" {
		width -= ansi.StringWidth(prefix)
	}
	sw := len(s)
	if !isASCII(s) {
		sw = ansi.StringWidth(s)
	}
	if sw > width {
		s = Truncate(s, width, w.ellipsis)
		sw = ansi.StringWidth(s)
	}
	if right {
		w.pad(width - sw)
	}
	w.open(k)
	w.b.WriteString(prefix)
	w.b.WriteString(s)
	w.close(k)
	if !right {
		w.pad(width - sw)
	}
}

// number writes a short ASCII value right-aligned in width cells.
func (w *rowWriter) number(v []byte, width int, k *ink) {
	w.pad(width - len(v))
	w.open(k)
	w.b.Write(v)
	w.close(k)
}

// bar writes v (0..100) as a bar of width cells: the filled part in k,
// the track in the track ink.
func (w *rowWriter) bar(v float64, width int, g *themes.Glyphs, k, track *ink) {
	whole, rest := barSplit(v, width, len(g.BarPartial)+1)
	w.open(k)
	for range whole {
		w.b.WriteString(g.BarFull)
	}
	if rest > 0 {
		w.b.WriteString(g.BarPartial[rest-1])
		whole++
	}
	w.close(k)
	if whole < width {
		w.open(track)
		for range width - whole {
			w.b.WriteString(g.BarEmpty)
		}
		w.close(track)
	}
}

// renderRow writes one device row, exactly as wide as the grid. The
// selected row has the pointer glyph in its margin and is drawn in the
// selection style across the whole width, so it reads the same with or
// without colour; a marked row has the mark glyph in the next cell.
func (m *Model) renderRow(b *strings.Builder, d *engine.DeviceState, cols []colLayout, selected, marked bool, now time.Time) {
	g := &m.theme.Glyphs
	k := &m.inks
	w := rowWriter{b: b, plain: selected, ellipsis: g.Ellipsis}
	if selected {
		b.WriteString(k.selected.pre)
		b.WriteString(g.Pointer)
	} else {
		w.pad(1)
	}
	if marked {
		w.open(&k.mark)
		b.WriteString(g.Mark)
		w.close(&k.mark)
	} else {
		w.pad(1)
	}
	// Metrics of a device that is not online are its last known ones.
	stale := d.Status != engine.StatusOnline
	var num [24]byte
	for i, c := range cols {
		if i > 0 {
			w.pad(gap)
		}
		switch c.col {
		case ColHostname:
			w.text(d.Hostname, c.width, false, nil)
		case ColSite:
			w.text(d.Site, c.width, false, &k.muted)
		case ColStatus:
			sym, st := m.statusLook(d.Status)
			w.labeled(sym, string(d.Status), c.width, false, st)
		case ColCPU, ColMem, ColDisk:
			valueWidth := c.width
			if c.bar > 0 {
				valueWidth -= c.bar + 1
			}
			if !d.HasMetrics {
				w.number([]byte{'-'}, valueWidth, &k.muted)
				if c.bar > 0 {
					w.pad(c.bar + 1)
				}
				continue
			}
			v := metric(d, c.col)
			st := m.levelInk(c.col, v)
			if stale {
				st = &k.muted
			}
			w.number(appendPercent(num[:0], v), valueWidth, st)
			if c.bar > 0 {
				fill := st
				if fill == nil {
					fill = &k.barFill
				}
				w.pad(1)
				w.bar(v, c.bar, g, fill, &k.barTrack)
			}
		case ColLastSeen:
			w.text(RelativeAge(now, d.LastSeen), c.width, true, nil)
		case ColOS:
			w.text(ShortOS(d.OSName), c.width, false, &k.muted)
		}
	}
	if selected {
		last := cols[len(cols)-1]
		w.pad(m.width - (last.x + last.width))
		b.WriteString(k.selected.post)
	}
}

// statusLook is a status's symbol (with its trailing space) and ink. A
// status this console does not know is shown as its own text with the
// unknown symbol.
func (m *Model) statusLook(s engine.Status) (string, *ink) {
	switch s {
	case engine.StatusOnline:
		return m.inks.onlineSym, &m.inks.online
	case engine.StatusOffline:
		return m.inks.offlineSym, &m.inks.offline
	}
	return m.inks.unknownSym, &m.inks.unknown
}

// levelInk flags metric values that need a look (warn) or action
// (critical); nil for normal values.
func (m *Model) levelInk(c Column, v float64) *ink {
	switch c {
	case ColCPU, ColMem:
		switch {
		case v >= 90:
			return &m.inks.critical
		case v >= 75:
			return &m.inks.warn
		}
	case ColDisk:
		switch {
		case v < 10:
			return &m.inks.critical
		case v < 20:
			return &m.inks.warn
		}
	}
	return nil
}
