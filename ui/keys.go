package ui

import "charm.land/bubbles/v2/key"

// KeyMap is every key the console answers to. The short help in the status
// line and the full help overlay (?) are generated from it, so what the
// screen says is what the keys do. Help labels are plain ASCII so they
// render in every theme.
type KeyMap struct {
	Up, Down         key.Binding
	PageUp, PageDown key.Binding
	HalfUp, HalfDown key.Binding
	Top, Bottom      key.Binding
	Filter           key.Binding // start typing a filter
	Clear            key.Binding // esc: close help, clear the filter
	Sort, Reverse    key.Binding
	Help, Quit       key.Binding

	// Help-only entries: they describe, they never match a key.
	move, wheel, click key.Binding
}

// DefaultKeyMap returns the console's keys.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("up/k", "move up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("down/j", "move down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown"), key.WithHelp("pgdown", "page down")),
		HalfUp:   key.NewBinding(key.WithKeys("ctrl+u"), key.WithHelp("ctrl+u", "half page up")),
		HalfDown: key.NewBinding(key.WithKeys("ctrl+d"), key.WithHelp("ctrl+d", "half page down")),
		Top:      key.NewBinding(key.WithKeys("g", "home"), key.WithHelp("g/home", "first device")),
		Bottom:   key.NewBinding(key.WithKeys("G", "end"), key.WithHelp("G/end", "last device")),
		Filter:   key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Clear:    key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter / close")),
		Sort:     key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sort")),
		Reverse:  key.NewBinding(key.WithKeys("S"), key.WithHelp("S", "reverse sort")),
		Help:     key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:     key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),

		move:  key.NewBinding(key.WithKeys("j", "k"), key.WithHelp("j/k", "move")),
		wheel: key.NewBinding(key.WithKeys("mouse wheel"), key.WithHelp("wheel", "scroll")),
		click: key.NewBinding(key.WithKeys("mouse click"), key.WithHelp("click", "select row / sort by column")),
	}
}

// ShortHelp is the one-line help in the status line.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.move, k.Filter, k.Sort, k.Help, k.Quit}
}

// FullHelp is the help overlay, one column per group.
func (k KeyMap) FullHelp() [][]key.Binding {
	quit := k.Quit
	quit.SetHelp("q/ctrl+c", "quit")
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.HalfUp, k.HalfDown, k.Top, k.Bottom},
		{k.Filter, k.Clear, k.Sort, k.Reverse, k.wheel, k.click, k.Help, quit},
	}
}
