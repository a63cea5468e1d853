package ui

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/themes"
)

// palette is the command line opened with ":".
type palette struct {
	open  bool
	input string
	sel   int // the highlighted suggestion, -1 for none
}

func (p *palette) setInput(s string) {
	p.input = s
	p.sel = -1
}

// command is one palette command.
type command struct {
	name    string
	aliases []string
	args    string // usage of the arguments, "" for none
	desc    string
	// optional reports whether the command runs without its arguments.
	optional bool
	// hidden keeps the command out of the suggestions (it still runs).
	hidden func(m *Model) bool
	// complete suggests the arguments: args is what follows the name.
	complete func(m *Model, args string) []suggestion
	run      func(m Model, args string) (Model, tea.Cmd)
}

// suggestion is one line of the palette's completion list.
type suggestion struct {
	text  string // the whole input it completes to
	show  string // what the list shows
	desc  string
	final bool // text is a complete command: enter runs it
}

// commands is every palette command, the views' first, from pages().
func commands() []command {
	var cs []command
	for _, p := range pages() {
		id := p.id
		cs = append(cs, command{name: p.name, desc: p.desc,
			// A view the role may not use is not offered, but it still
			// opens when typed: the engine refuses, and says so.
			hidden: func(m *Model) bool { return !m.listed(pageOf(id)) },
			run:    func(m Model, _ string) (Model, tea.Cmd) { return m.switchTo(id) }})
	}
	return append(cs,
		command{name: "filter", args: "EXPR", desc: "filter the grid (empty: show all)", optional: true,
			run: func(m Model, args string) (Model, tea.Cmd) {
				m.setFilter(strings.TrimSpace(args))
				m.keepFilter()
				m.page = pageDevices
				if err := m.grid.fltErr; err != nil {
					return m, m.notify("filter: "+err.Error(), true)
				}
				return m, nil
			}},
		command{name: "view", args: "NAME", desc: "apply a saved view",
			hidden:   func(m *Model) bool { return len(m.opts.SavedViews) == 0 },
			complete: completeViews,
			run: func(m Model, args string) (Model, tea.Cmd) {
				name := strings.TrimSpace(args)
				if len(m.opts.SavedViews) == 0 {
					return m, m.notify("no saved views are configured", true)
				}
				if name == "" {
					return m, m.notify("usage: :view NAME (views: "+strings.Join(m.viewNames(), ", ")+")", true)
				}
				if err := m.applyView(name); err != nil {
					return m, m.notify(err.Error(), true)
				}
				m.page = pageDevices
				return m, nil
			}},
		command{name: "sort", args: "COLUMN [asc|desc]", desc: "sort the grid",
			complete: completeSort,
			run: func(m Model, args string) (Model, tea.Cmd) {
				f := strings.Fields(args)
				if len(f) == 0 || len(f) > 2 {
					return m, m.notify("usage: :sort COLUMN [asc|desc] (columns: "+columnList()+")", true)
				}
				col, err := ParseColumn(f[0])
				if err != nil {
					return m, m.notify("sort: "+err.Error(), true)
				}
				desc := col.DefaultDesc()
				if len(f) == 2 {
					switch strings.ToLower(f[1]) {
					case "asc":
						desc = false
					case "desc":
						desc = true
					default:
						return m, m.notify("sort: "+strconv.Quote(f[1])+" is not asc or desc", true)
					}
				}
				m.setSort(col, desc)
				m.page = pageDevices
				return m, nil
			}},
		command{name: "group", desc: "group the grid by site, or stop",
			run: func(m Model, _ string) (Model, tea.Cmd) {
				m.toggleGroup()
				m.page = pageDevices
				return m, nil
			}},
		command{name: "export", args: "csv|json PATH", desc: "write the devices in view to a file",
			complete: completeExport,
			run:      runExport},
		command{name: "report", args: "TYPE [FORMAT] [PERIOD] [site:NAME|group:NAME] [FILE]",
			desc:   "write a report (uptime, inventory, alerts, security, patches, executive) and say where",
			hidden: func(m *Model) bool { return m.feed.caps.req == nil }, complete: completeReport, run: runReport},
		command{name: "queue", desc: "the offline queue (actions view)",
			hidden: func(m *Model) bool { return !m.listed(pageOf(pageActions)) },
			run: func(m Model, _ string) (Model, tea.Cmd) {
				m.acts.focus, m.acts.open = 1, ""
				return m.switchTo(pageActions)
			}},
		command{name: "export-results", args: "csv|json PATH", desc: "write the open run's per-device results to a file",
			hidden: func(m *Model) bool { return m.acts.prog == nil },
			complete: func(m *Model, args string) []suggestion {
				out := completeWords(m, "export-results", args, []string{"csv", "json"}, nil)
				for i := range out {
					out[i].text += " "
					out[i].show += " PATH"
					out[i].final = false
				}
				return out
			},
			run: runExportResults},
		command{name: "collection", args: "NAME", desc: "show a collection's members in the grid (no NAME: the Collections view)", optional: true,
			hidden:   func(m *Model) bool { return m.feed.caps.req == nil },
			complete: completeCollections,
			run:      runShowCollection},
		command{name: "save-collection", args: "NAME", desc: "save the grid's filter as a collection",
			hidden: func(m *Model) bool { return !m.may(engine.PermCollectionsEdit) },
			run:    runSaveCollection},
		command{name: "rm-collection", args: "NAME", desc: "remove a saved collection",
			hidden: func(m *Model) bool { return !m.may(engine.PermCollectionsEdit) },
			complete: func(m *Model, args string) []suggestion {
				var names []string
				for _, c := range m.colls.list {
					if c.Source == engine.SourceDB {
						names = append(names, c.Name)
					}
				}
				return completeWords(m, "rm-collection", args, names, nil)
			},
			run: runRemoveCollection},
		command{name: "theme", args: "NAME", desc: "switch the theme",
			complete: func(m *Model, args string) []suggestion {
				return completeWords(m, "theme", args, themes.Names(), nil)
			},
			run: func(m Model, args string) (Model, tea.Cmd) {
				name := strings.TrimSpace(args)
				if name == "" {
					return m, m.notify("usage: :theme NAME ("+strings.Join(themes.Names(), ", ")+")", true)
				}
				return m, m.setTheme(name)
			}},
		command{name: "help", desc: "keys, filter syntax and commands",
			run: func(m Model, _ string) (Model, tea.Cmd) {
				m.showHelp, m.helpOffset = true, 0
				return m, nil
			}},
		command{name: "quit", aliases: []string{"q"}, desc: "leave the console",
			run: func(m Model, _ string) (Model, tea.Cmd) {
				nm, cmd := m.quitOrAsk()
				return nm.(Model), cmd
			}},
	)
}

func columnList() string {
	names := make([]string, 0, numColumns)
	for c := Column(0); c < numColumns; c++ {
		names = append(names, c.Name())
	}
	return strings.Join(names, ", ")
}

// lookup finds a command by name or alias, ignoring case.
func (m *Model) lookup(name string) (command, bool) {
	name = strings.ToLower(name)
	for _, c := range m.commands {
		if c.name == name || slices.Contains(c.aliases, name) {
			return c, true
		}
	}
	return command{}, false
}

// suggestions completes what is typed: command names first, then the
// command's arguments.
func (m *Model) suggestions() []suggestion {
	in := strings.TrimLeft(m.palette.input, " ")
	name, args, hasArgs := strings.Cut(in, " ")
	if !hasArgs {
		var out []suggestion
		for _, c := range m.commands {
			if c.hidden != nil && c.hidden(m) || !strings.HasPrefix(c.name, strings.ToLower(name)) {
				continue
			}
			s := suggestion{text: c.name, show: c.name, desc: c.desc, final: c.args == "" || c.optional}
			if c.args != "" {
				s.text += " "
				s.show += " " + c.args
			}
			if c.name == "export" {
				s.desc = m.exportDesc()
			}
			out = append(out, s)
		}
		return out
	}
	c, ok := m.lookup(name)
	if !ok || c.complete == nil {
		return nil
	}
	return c.complete(m, strings.TrimLeft(args, " "))
}

// usage is the hint the palette shows for a command being given its
// arguments, when there is nothing to pick.
func (m *Model) usage() string {
	in := strings.TrimLeft(m.palette.input, " ")
	name, _, hasArgs := strings.Cut(in, " ")
	if !hasArgs {
		return ""
	}
	c, ok := m.lookup(name)
	if !ok {
		return ""
	}
	desc := c.desc
	switch c.name {
	case "export":
		desc = m.exportDesc()
	case "filter":
		desc = "e.g. site:london cpu>80 !tag:prod   (? lists the syntax)"
	}
	return strings.TrimSpace(c.name+" "+c.args) + "  " + desc
}

func (m *Model) exportDesc() string {
	n := len(m.grid.rows)
	return "write the " + Thousands(n) + " " + plural(n, "device", "devices") + " in view to a file"
}

// completeWords suggests words for the first argument of a command.
func completeWords(m *Model, cmd, args string, words []string, desc func(string) string) []suggestion {
	if strings.Contains(args, " ") {
		return nil
	}
	var out []suggestion
	for _, w := range words {
		if strings.HasPrefix(strings.ToLower(w), strings.ToLower(args)) {
			s := suggestion{text: cmd + " " + w, show: w, final: true}
			if desc != nil {
				s.desc = desc(w)
			}
			out = append(out, s)
		}
	}
	return out
}

func completeViews(m *Model, args string) []suggestion {
	return completeWords(m, "view", args, m.viewNames(), func(name string) string { return m.opts.SavedViews[name] })
}

func completeSort(m *Model, args string) []suggestion {
	col, rest, more := strings.Cut(args, " ")
	if !more {
		var names []string
		for c := Column(0); c < numColumns; c++ {
			names = append(names, c.Name())
		}
		return completeWords(m, "sort", col, names, nil)
	}
	if _, err := ParseColumn(col); err != nil {
		return nil
	}
	return completeWords(m, "sort "+col, strings.TrimLeft(rest, " "), []string{"asc", "desc"}, nil)
}

func completeExport(m *Model, args string) []suggestion {
	if strings.Contains(args, " ") {
		return nil
	}
	out := completeWords(m, "export", args, []string{"csv", "json"}, nil)
	for i := range out {
		out[i].text += " "
		out[i].show += " PATH"
		out[i].final = false
	}
	return out
}

// viewNames are the saved views' names, sorted.
func (m *Model) viewNames() []string {
	names := make([]string, 0, len(m.opts.SavedViews))
	for n := range m.opts.SavedViews {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// viewError is a :view that could not apply.
type viewError struct {
	name  string
	views []string
	bad   error
}

func (e *viewError) Error() string {
	if e.bad != nil {
		return "view " + e.name + ": " + e.bad.Error()
	}
	return "unknown view " + strconv.Quote(e.name) + suggest(e.name, e.views) + " (views: " + strings.Join(e.views, ", ") + ")"
}

// ValidateViews checks saved views as Options.SavedViews takes them: names
// are single words, expressions parse.
func ValidateViews(views map[string]string) error {
	var errs []error
	names := make([]string, 0, len(views))
	for n := range views {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		if name == "" || strings.ContainsAny(name, " \t") {
			errs = append(errs, fmt.Errorf("views: name %q: use one word (it is typed as :view NAME)", name))
			continue
		}
		if _, err := ParseFilter(views[name]); err != nil {
			errs = append(errs, fmt.Errorf("views.%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// paletteKey edits and runs the command line.
func (m Model) paletteKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	p := &m.palette
	switch msg.String() {
	case "esc":
		m.palette = palette{}
	case "backspace":
		if p.input == "" {
			m.palette = palette{}
			break
		}
		r := []rune(p.input)
		p.setInput(string(r[:len(r)-1]))
	case "ctrl+u":
		p.setInput("")
	case "ctrl+w":
		f := strings.TrimRight(p.input, " ")
		p.setInput(f[:strings.LastIndex(f, " ")+1])
	case "up", "ctrl+p", "shift+tab":
		if n := len(m.suggestions()); n > 0 {
			p.sel--
			if p.sel < 0 {
				p.sel = n - 1
			}
		}
	case "down", "ctrl+n":
		if n := len(m.suggestions()); n > 0 {
			p.sel = (p.sel + 1) % n
		}
	case "tab":
		m.complete()
	case "enter":
		sugg := m.suggestions()
		if p.sel >= 0 && p.sel < len(sugg) {
			s := sugg[p.sel]
			p.setInput(s.text)
			if !s.final {
				return m, nil
			}
		}
		input := p.input
		m.palette = palette{}
		return m.run(input)
	default:
		if t := strings.Map(printable, msg.Text); t != "" {
			p.setInput(p.input + t)
		}
	}
	return m, nil
}

// complete is tab: take the highlighted suggestion, or the only one, or
// extend to what all of them share; when that adds nothing, highlight
// the first so the next tab takes it.
func (m *Model) complete() {
	p := &m.palette
	sugg := m.suggestions()
	switch {
	case p.sel >= 0 && p.sel < len(sugg):
		p.setInput(sugg[p.sel].text)
	case len(sugg) == 1:
		p.setInput(sugg[0].text)
	case len(sugg) > 1:
		prefix := sugg[0].text
		for _, s := range sugg[1:] {
			prefix = commonPrefix(prefix, s.text)
		}
		if len(prefix) > len(strings.TrimLeft(p.input, " ")) {
			p.setInput(prefix)
		} else {
			p.sel = 0
		}
	}
}

func commonPrefix(a, b string) string {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return a[:i]
		}
	}
	return a[:n]
}

// run executes a command line.
func (m Model) run(line string) (tea.Model, tea.Cmd) {
	line = strings.TrimSpace(line)
	if line == "" {
		return m, nil
	}
	name, args, _ := strings.Cut(line, " ")
	c, ok := m.lookup(name)
	if !ok {
		var names []string
		for _, c := range m.commands {
			if c.hidden == nil || !c.hidden(&m) {
				names = append(names, c.name)
				names = append(names, c.aliases...)
			}
		}
		return m, m.notify("unknown command "+strconv.Quote(name)+suggestOr(name, names, " (: then tab lists the commands)"), true)
	}
	if c.args != "" && !c.optional && strings.TrimSpace(args) == "" {
		return m, m.notify("usage: :"+c.name+" "+c.args, true)
	}
	return c.run(m, args)
}

// suggest is ` (did you mean "x"?)` for the candidate closest to word,
// or "" when none is close.
func suggest(word string, candidates []string) string {
	return suggestOr(word, candidates, "")
}

func suggestOr(word string, candidates []string, otherwise string) string {
	if c, ok := closest(word, candidates); ok {
		return ": did you mean " + strconv.Quote(c) + "?"
	}
	return otherwise
}

// closest is the candidate nearest to word by edit distance (or that
// word starts), if it is near enough to be what was meant.
func closest(word string, candidates []string) (string, bool) {
	w := strings.ToLower(word)
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := editDistance(w, strings.ToLower(c))
		if strings.HasPrefix(strings.ToLower(c), w) && w != "" {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > max(2, len([]rune(w))/2) {
		return "", false
	}
	return best, true
}

// editDistance is the Levenshtein distance between a and b, with a
// transposition of two neighbours counting once ("thmee" is one from
// "theme").
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
