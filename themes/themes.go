// Package themes holds the console's look: the lipgloss styles and the
// glyphs (status symbols, ellipsis, bar characters, borders) of each named
// theme. It renders nothing itself and knows nothing of devices; the ui
// package picks a Theme and applies it.
//
// Every theme is a value built on demand by Get, so there is no shared
// mutable state: callers may change the Theme they hold freely.
package themes

import (
	"fmt"
	"image/color"
	"strings"

	"charm.land/lipgloss/v2"
)

// Theme names accepted by Get.
const (
	Default      = "default"
	Light        = "light"
	HighContrast = "high-contrast"
	ASCII        = "ascii"
)

// Names returns the valid theme names, default first.
func Names() []string {
	return []string{Default, Light, HighContrast, ASCII}
}

// Glyphs are the characters a theme draws with. In the ascii theme every
// one of them is plain ASCII, so the whole screen is.
type Glyphs struct {
	Online, Offline, Unknown string // status symbols, one cell wide, always shown beside the status text
	Ellipsis                 string // marks truncated text
	BarFull                  string // one fully filled bar cell
	BarEmpty                 string // one empty bar cell (the track)
	// BarPartial are the glyphs for a partly filled cell, from 1/n to
	// (n-1)/n of a cell; nil when the theme fills whole cells only.
	BarPartial []string
	SortAsc    string // beside the sorted column's title
	SortDesc   string
	Separator  string          // between header fields
	Cursor     string          // the text cursor in the filter input
	Pointer    string          // in the margin of the selected row: visible without colour or reverse video
	HelpSep    string          // between items in the short help
	Border     lipgloss.Border // the help overlay's and the command palette's frame
	// Mark is beside a row picked with space (multi-select); it sits in
	// its own cell next to Pointer so the two never hide each other.
	Mark string
	// Spark are the levels of a sparkline, lowest first; a gap in the
	// data is drawn as a space.
	Spark []string
	// Alert severities' symbols, one cell each, always shown beside the
	// severity's name (never colour alone), most urgent first.
	SevCritical, SevHigh, SevMedium, SevLow, SevInfo string
}

// Theme is a complete look for the console: glyphs plus styles. Styles
// carry colour only when the theme has colour; selection and headings
// also use bold/reverse so they survive NO_COLOR.
type Theme struct {
	Name   string
	Glyphs Glyphs
	Color  bool // false when the styles carry no colour (NO_COLOR)

	TitleBar     lipgloss.Style // the first header line: title and user
	Text         lipgloss.Style // ordinary text in the header and status line
	Muted        lipgloss.Style // secondary text: hints, stale values, separators
	ColumnHeader lipgloss.Style // the grid's column titles
	Selected     lipgloss.Style // the selected grid row (whole line)
	Online       lipgloss.Style
	Offline      lipgloss.Style
	Unknown      lipgloss.Style
	Warn         lipgloss.Style // a value that needs a look (CPU >= 70%, disk < 20% free)
	Critical     lipgloss.Style // a value that needs action (CPU >= 90%, disk < 10% free)
	BarTrack     lipgloss.Style // the empty part of a bar
	BarFill      lipgloss.Style // the filled part of a bar at normal levels
	Prompt       lipgloss.Style // the filter prompt "/"
	Input        lipgloss.Style // the filter text being typed
	CursorStyle  lipgloss.Style // the filter input cursor
	HelpKey      lipgloss.Style
	HelpDesc     lipgloss.Style
	HelpBox      lipgloss.Style // the frame around the help overlay
	HelpTitle    lipgloss.Style
	TabActive    lipgloss.Style // the current view in the tab bar: reverse or a background, readable without colour
	TabInactive  lipgloss.Style // the other views in the tab bar
	Notice       lipgloss.Style // an informational toast in the status line
	Error        lipgloss.Style // an error toast, an invalid filter, a failed load
	GroupHeader  lipgloss.Style // a site's header row when the grid is grouped
	Mark         lipgloss.Style // the multi-select mark
	Label        lipgloss.Style // field names in the detail and settings views
	Section      lipgloss.Style // section titles in the detail view
	Spark        lipgloss.Style // sparklines
	PaletteBox   lipgloss.Style // the frame around the command palette's suggestions
	// Alert severities, most urgent first. Critical and High are bold, so
	// they stand out without colour too.
	SevCritical lipgloss.Style
	SevHigh     lipgloss.Style
	SevMedium   lipgloss.Style
	SevLow      lipgloss.Style
	SevInfo     lipgloss.Style
}

// Get returns the named theme. An unknown name is an error that lists the
// valid names.
func Get(name string) (Theme, error) {
	s, ok := lookup(name)
	if !ok {
		return Theme{}, fmt.Errorf("unknown theme %q (valid: %s)", name, strings.Join(Names(), ", "))
	}
	return build(name, s, true), nil
}

// WithoutColor returns the theme with every colour removed, for NO_COLOR:
// glyphs stay, and emphasis falls back to bold, underline and reverse.
func (t Theme) WithoutColor() Theme {
	s, ok := lookup(t.Name)
	if !ok {
		s, _ = lookup(Default)
	}
	return build(t.Name, s, false)
}

// AutoName picks the theme for a terminal from its locale: "default" when
// the effective locale (the first set of LC_ALL, LC_CTYPE, LANG) is UTF-8,
// "ascii" otherwise, including an unset or "C"/"POSIX" locale. env is
// usually os.Getenv.
func AutoName(env func(string) string) string {
	for _, k := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		v := env(k)
		if v == "" {
			continue
		}
		l := strings.ToLower(v)
		if strings.Contains(l, "utf-8") || strings.Contains(l, "utf8") {
			return Default
		}
		return ASCII
	}
	// No locale at all: Windows Terminal sets WT_SESSION and renders
	// UTF-8; anything else unknown is safest in ASCII.
	if env("WT_SESSION") != "" {
		return Default
	}
	return ASCII
}

// NoColor reports whether the environment asks for no colour: NO_COLOR set
// to any non-empty value (https://no-color.org). env is usually os.Getenv.
func NoColor(env func(string) string) bool {
	return env("NO_COLOR") != ""
}

// spec is what distinguishes one theme from another.
type spec struct {
	glyphs  Glyphs
	palette palette
	// boldStatus makes status and alert values bold, for themes that lean
	// on weight as much as on hue.
	boldStatus bool
}

// palette holds a theme's colours; nil means the terminal's default.
type palette struct {
	titleFg, titleBg       color.Color
	text, muted            color.Color
	header                 color.Color
	selFg, selBg           color.Color
	online, offline, unkn  color.Color
	warn, critical         color.Color
	high                   color.Color // a High alert: between warn and critical
	barFill, barTrack      color.Color
	prompt, border, accent color.Color
}

// unicodeGlyphs are the glyphs of the UTF-8 themes. A function, not a
// variable, so no caller can change another's glyphs.
func unicodeGlyphs() Glyphs {
	return Glyphs{
		Online:      "●",
		Offline:     "○",
		Unknown:     "?",
		Ellipsis:    "…",
		BarFull:     "█",
		BarEmpty:    "░",
		BarPartial:  []string{"▏", "▎", "▍", "▌", "▋", "▊", "▉"},
		SortAsc:     "▲",
		SortDesc:    "▼",
		Separator:   " │ ",
		Cursor:      " ",
		Pointer:     "▌",
		HelpSep:     "  ",
		Border:      lipgloss.RoundedBorder(),
		Mark:        "•",
		Spark:       []string{"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"},
		SevCritical: "◆",
		SevHigh:     "▲",
		SevMedium:   "■",
		SevLow:      "▪",
		SevInfo:     "·",
	}
}

// lookup returns the spec of a named theme. It builds the value on each
// call so nothing here is shared or mutable.
func lookup(name string) (spec, bool) {
	switch name {
	case Default:
		return spec{glyphs: unicodeGlyphs(), palette: darkPalette()}, true
	case Light:
		return spec{glyphs: unicodeGlyphs(), palette: palette{
			titleFg: lipgloss.Color("#FFFFFF"), titleBg: lipgloss.Color("#005F87"),
			text: lipgloss.Color("#1C1C1C"), muted: lipgloss.Color("#6C6C6C"),
			header: lipgloss.Color("#00005F"),
			selFg:  lipgloss.Color("#000000"), selBg: lipgloss.Color("#BCD7F5"),
			online: lipgloss.Color("#007A00"), offline: lipgloss.Color("#C00000"), unkn: lipgloss.Color("#8A6100"),
			warn: lipgloss.Color("#9A6700"), critical: lipgloss.Color("#C00000"), high: lipgloss.Color("#AF5F00"),
			barFill: lipgloss.Color("#2F7D32"), barTrack: lipgloss.Color("#C6C6C6"),
			prompt: lipgloss.Color("#005FAF"), border: lipgloss.Color("#005F87"), accent: lipgloss.Color("#005FAF"),
		}}, true
	case HighContrast:
		g := unicodeGlyphs()
		g.Border = lipgloss.ThickBorder()
		// The 16 ANSI colours follow the user's own (often tuned)
		// palette; ordinary text keeps the terminal's default colour.
		return spec{glyphs: g, boldStatus: true, palette: palette{
			header: nil,
			online: lipgloss.BrightGreen, offline: lipgloss.BrightRed, unkn: lipgloss.BrightYellow,
			warn: lipgloss.BrightYellow, critical: lipgloss.BrightRed, high: lipgloss.BrightMagenta,
			barFill: lipgloss.BrightCyan,
			prompt:  lipgloss.BrightCyan, border: lipgloss.BrightWhite, accent: lipgloss.BrightCyan,
		}}, true
	case ASCII:
		return spec{glyphs: Glyphs{
			Online:      "+",
			Offline:     "x",
			Unknown:     "?",
			Ellipsis:    "...",
			BarFull:     "#",
			BarEmpty:    ".",
			SortAsc:     "^",
			SortDesc:    "v",
			Separator:   " | ",
			Cursor:      "_",
			Pointer:     ">",
			HelpSep:     "  ",
			Border:      lipgloss.ASCIIBorder(),
			Mark:        "*",
			Spark:       []string{"_", ".", "-", "=", "+", "*", "#"},
			SevCritical: "!",
			SevHigh:     "^",
			SevMedium:   "~",
			SevLow:      "-",
			SevInfo:     "i",
		}, palette: darkPalette()}, true
	}
	return spec{}, false
}

func darkPalette() palette {
	return palette{
		titleFg: lipgloss.Color("#FFFFFF"), titleBg: lipgloss.Color("#005F87"),
		text: nil, muted: lipgloss.Color("#8A8A8A"),
		header: lipgloss.Color("#87AFD7"),
		selFg:  lipgloss.Color("#FFFFFF"), selBg: lipgloss.Color("#264F78"),
		online: lipgloss.Color("#5FD75F"), offline: lipgloss.Color("#FF5F5F"), unkn: lipgloss.Color("#D7AF5F"),
		warn: lipgloss.Color("#D7AF00"), critical: lipgloss.Color("#FF5F5F"), high: lipgloss.Color("#FF8700"),
		barFill: lipgloss.Color("#5FAF87"), barTrack: lipgloss.Color("#4E4E4E"),
		prompt: lipgloss.Color("#5FAFFF"), border: lipgloss.Color("#5F87AF"), accent: lipgloss.Color("#5FAFFF"),
	}
}

// build turns a spec into styles. With colour off, the palette is ignored
// and emphasis is carried by bold, underline and reverse alone.
func build(name string, s spec, withColor bool) Theme {
	p := s.palette
	if !withColor {
		p = palette{}
	}
	fg := func(st lipgloss.Style, c color.Color) lipgloss.Style {
		if c == nil {
			return st
		}
		return st.Foreground(c)
	}
	bg := func(st lipgloss.Style, c color.Color) lipgloss.Style {
		if c == nil {
			return st
		}
		return st.Background(c)
	}
	plain := lipgloss.NewStyle()

	t := Theme{Name: name, Glyphs: s.glyphs, Color: withColor}

	t.TitleBar = bg(fg(plain.Bold(true), p.titleFg), p.titleBg)
	if p.titleBg == nil {
		t.TitleBar = t.TitleBar.Reverse(true)
	}
	t.Text = fg(plain, p.text)
	t.Muted = fg(plain, p.muted)
	t.ColumnHeader = fg(plain.Bold(true), p.header)
	if p.header == nil {
		t.ColumnHeader = t.ColumnHeader.Underline(true)
	}
	t.Selected = bg(fg(plain.Bold(true), p.selFg), p.selBg)
	if p.selBg == nil {
		t.Selected = t.Selected.Reverse(true)
	}
	t.Online = fg(plain.Bold(s.boldStatus), p.online)
	// Offline is what an admin scans for: bold even without colour.
	t.Offline = fg(plain.Bold(true), p.offline)
	t.Unknown = fg(plain.Bold(s.boldStatus), p.unkn)
	t.Warn = fg(plain.Bold(s.boldStatus), p.warn)
	t.Critical = fg(plain.Bold(true), p.critical)
	t.BarFill = fg(plain, p.barFill)
	t.BarTrack = fg(plain, p.barTrack)
	if p.barTrack == nil {
		t.BarTrack = t.Muted
	}
	t.Prompt = fg(plain.Bold(true), p.prompt)
	t.Input = fg(plain, p.text)
	t.CursorStyle = plain.Reverse(true)
	if s.glyphs.Cursor != " " {
		t.CursorStyle = plain.Bold(true)
	}
	t.HelpKey = fg(plain.Bold(true), p.accent)
	t.HelpDesc = fg(plain, p.text)
	t.HelpTitle = fg(plain.Bold(true), p.accent)
	t.HelpBox = plain.Border(s.glyphs.Border).Padding(0, 2)
	if p.border != nil {
		t.HelpBox = t.HelpBox.BorderForeground(p.border)
	}
	t.PaletteBox = plain.Border(s.glyphs.Border).Padding(0, 1)
	if p.border != nil {
		t.PaletteBox = t.PaletteBox.BorderForeground(p.border)
	}
	// The active tab wears the title bar's colours, or reverse video
	// without them: it must read as "you are here" with and without
	// colour.
	t.TabActive = bg(fg(plain.Bold(true), p.titleFg), p.titleBg)
	if p.titleBg == nil {
		t.TabActive = t.TabActive.Reverse(true)
	}
	t.TabInactive = t.Muted
	if p.muted == nil {
		t.TabInactive = plain
	}
	t.Notice = fg(plain.Bold(true), p.accent)
	t.Error = fg(plain.Bold(true), p.critical)
	if p.critical == nil {
		t.Error = t.Error.Reverse(true)
	}
	t.GroupHeader = fg(plain.Bold(true), p.header)
	t.Mark = fg(plain.Bold(true), p.accent)
	t.Label = t.Muted
	if p.muted == nil {
		t.Label = plain
	}
	t.Section = fg(plain.Bold(true), p.accent)
	if p.accent == nil {
		t.Section = t.Section.Underline(true)
	}
	t.Spark = fg(plain, p.barFill)
	t.SevCritical = fg(plain.Bold(true), p.critical)
	t.SevHigh = fg(plain.Bold(true), p.high)
	t.SevMedium = fg(plain.Bold(s.boldStatus), p.warn)
	t.SevLow = fg(plain, p.text)
	t.SevInfo = t.Muted
	if p.muted == nil {
		t.SevInfo = plain
	}
	return t
}
