package ui

// The Collections view: the saved collections (ListCollections) with
// their member counts, read once a second while shown. enter shows a
// collection in the grid (its expression as the grid's filter: the same
// grammar over the same facts, so the grid holds its members), ! runs a
// command on it and x an action (both with the collection as the target,
// so the engine resolves its members and the audit names it). The
// palette saves the grid's filter as a collection (:save-collection
// NAME) and removes one (:rm-collection NAME).

import (
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/rmmhq/rmm/engine"
)

// collectionsPoll is how often the view reads the counts.
const collectionsPoll = time.Second

// collectionsState is the view's state, shared by the Model's copies.
type collectionsState struct {
	read    bool
	list    []engine.Collection
	err     error
	pos     listPos
	ticking bool
	seq     int
}

// collectionsMsg is one read of the collections.
type collectionsMsg struct {
	seq   int
	chain bool
	list  []engine.Collection
	err   error
	apply string // the collection to show in the grid once read (:collection NAME)
}

type collectionsTickMsg struct{}

// collectionSavedMsg is a finished SaveCollection or RemoveCollection.
type collectionSavedMsg struct {
	text string
	err  error
	name string // a collection saved from the grid's filter expr: the grid names it, while it still shows that filter
	expr string
}

func openCollections(m Model) (Model, tea.Cmd, error) {
	if m.colls.ticking {
		return m, nil, nil
	}
	m.colls.ticking = true
	return m, m.loadCollections(true, ""), nil
}

// loadCollections reads the list; apply names a collection to show in the
// grid when it arrives.
func (m *Model) loadCollections(chain bool, apply string) tea.Cmd {
	rq := m.feed.caps.req
	if rq == nil {
		m.colls.ticking = false
		return nil
	}
	m.colls.seq++
	seq, ctx := m.colls.seq, m.feed.ctx
	return func() tea.Msg {
		list, err := engine.Ask(ctx, rq, engine.ListCollections{})
		return collectionsMsg{seq: seq, chain: chain, list: list, err: err, apply: apply}
	}
}

// collectionsUpdate takes the view's messages.
func (m Model) collectionsUpdate(msg tea.Msg) (Model, tea.Cmd, bool) {
	switch msg := msg.(type) {
	case collectionsTickMsg:
		if m.page != pageCollections || m.quitting {
			m.colls.ticking = false
			return m, nil, true
		}
		return m, m.loadCollections(true, ""), true
	case collectionsMsg:
		var cmds []tea.Cmd
		if msg.chain {
			if m.page == pageCollections && !m.quitting {
				cmds = append(cmds, tea.Tick(collectionsPoll, func(time.Time) tea.Msg { return collectionsTickMsg{} }))
			} else {
				m.colls.ticking = false
			}
		}
		if msg.seq == m.colls.seq || msg.apply != "" {
			c := m.colls
			c.read, c.list, c.err = true, msg.list, msg.err
			c.pos.clamp(len(c.list), m.listRows())
		}
		if msg.apply != "" {
			if msg.err != nil {
				cmds = append(cmds, m.notify("collections: "+msg.err.Error(), true))
			} else if i := m.collectionIndex(msg.apply); i < 0 {
				cmds = append(cmds, m.notify("no collection "+strconv.Quote(msg.apply)+" ("+m.collectionNames()+")", true))
			} else {
				cmds = append(cmds, m.showCollection(m.colls.list[i]))
			}
		}
		return m, tea.Batch(cmds...), true
	case collectionSavedMsg:
		if msg.err != nil {
			return m, m.notify(msg.err.Error(), true), true
		}
		if msg.name != "" && m.grid.flt.Expr() == msg.expr {
			m.grid.view = "collection " + msg.name
		}
		return m, tea.Batch(m.notify(msg.text, false), m.loadCollections(false, "")), true
	}
	return m, nil, false
}

func (m *Model) collectionIndex(name string) int {
	for i, c := range m.colls.list {
		if strings.EqualFold(c.Name, strings.TrimSpace(name)) {
			return i
		}
	}
	return -1
}

func (m *Model) collectionNames() string {
	if len(m.colls.list) == 0 {
		return "there are none yet: :save-collection NAME saves the grid's filter"
	}
	names := make([]string, len(m.colls.list))
	for i, c := range m.colls.list {
		names[i] = c.Name
	}
	return "collections: " + strings.Join(names, ", ")
}

// showCollection makes the grid show a collection: its expression as the
// filter, named in the tab bar.
func (m *Model) showCollection(c engine.Collection) tea.Cmd {
	if c.Error != "" {
		return m.notify("collection "+m.clean(c.Name)+": "+m.clean(c.Error), true)
	}
	m.setFilter(c.Expr)
	m.keepFilter()
	m.grid.view = "collection " + c.Name
	m.page = pageDevices
	if c.Pending {
		return m.notify("collection "+m.clean(c.Name)+": the inventory index is still loading; members may be missing", false)
	}
	return nil
}

func (m *Model) selectedCollection() (engine.Collection, bool) {
	c := m.colls
	if len(c.list) == 0 {
		return engine.Collection{}, false
	}
	return c.list[min(c.pos.cursor, len(c.list)-1)], true
}

func collectionsKey(m Model, msg tea.KeyPressMsg) (Model, tea.Cmd) {
	k := &m.keys
	c := m.colls
	if c.pos.move(k, msg, len(c.list), m.listRows()) {
		return m, nil
	}
	sel, ok := m.selectedCollection()
	switch {
	case key.Matches(msg, k.Back):
		m.page = pageDevices
	case key.Matches(msg, k.Open) && ok:
		return m, m.showCollection(sel)
	case key.Matches(msg, k.RunCommand) && ok:
		return m.openCommand(engine.RunTarget{Collection: sel.Name}, sel.Members,
			"collection "+sel.Name+" ("+Thousands(sel.Members)+" "+plural(sel.Members, "device", "devices")+")")
	case key.Matches(msg, k.RunAction) && ok:
		if m.denied(engine.PermActionsRun, "running an action") {
			return m, nil
		}
		if sel.Members == 0 {
			return m, m.notify("collection "+sel.Name+" has no members now", true)
		}
		nm, cmd := m.openDialog(nil, m.collectionHosts(sel))
		nm.dialog.target = engine.RunTarget{Collection: sel.Name}
		nm.dialog.count = sel.Members
		return nm, cmd
	}
	return m, nil
}

// collectionHosts are the hostnames the console's own devices give a
// collection's expression (for the dialog's text; the engine resolves the
// target).
func (m *Model) collectionHosts(c engine.Collection) []string {
	f, err := ParseFilter(c.Expr)
	if err != nil {
		return nil
	}
	var out []string
	for i := range m.devices {
		if matches(&f, &m.devices[i]) {
			out = append(out, m.devices[i].Hostname)
		}
	}
	return out
}

func collectionsClick(m Model, _, y int) (Model, tea.Cmd) {
	m.colls.pos.click(y, len(m.colls.list), m.listRows())
	return m, nil
}

// collectionsBody draws the view.
func (m *Model) collectionsBody(height int) []string {
	th, g := &m.theme, &m.theme.Glyphs
	ell := g.Ellipsis
	c := m.colls
	cols := []listCell{{title: "COLLECTION", width: 24}, {title: "MEMBERS", width: 8, right: true}, {title: "SOURCE", width: 7}}
	cols = append(cols, listCell{title: "EXPRESSION", width: max(m.flexWidth(cols), 10)})
	out := []string{m.listTitles(cols)}
	switch {
	case c.err != nil:
		out = append(out, th.Error.Render("  "+m.clean(oneLine(c.err.Error()))))
	case !c.read:
		out = append(out, th.Muted.Render("  reading collections"+ell))
	case len(c.list) == 0:
		out = append(out, th.Muted.Render("  No collections yet. Filter the grid (/), then :save-collection NAME; or rmm collections add."))
	}
	vis := m.listRows()
	for i := c.pos.offset; i < min(c.pos.offset+vis, len(c.list)); i++ {
		col := c.list[i]
		sel := i == c.pos.cursor
		members := Thousands(col.Members)
		switch {
		case col.Error != "":
			members = "error"
		case col.Pending:
			members += "?"
		}
		cells := []string{fit(m.clean(col.Name), 24, false, ell), fit(members, 8, true, ell), fit(col.Source, 7, false, ell),
			fit(m.clean(col.Expr), cols[3].width, false, ell)}
		out = append(out, m.listLine(cells, sel))
	}
	out = padLines(out, height-listFooter)
	hint := ""
	if sel, ok := m.selectedCollection(); ok {
		switch {
		case sel.Error != "":
			hint = sel.Name + ": " + sel.Error
		case sel.Description != "":
			hint = sel.Name + ": " + sel.Description
		default:
			hint = sel.Name + ": " + sel.Expr
		}
		if sel.Pending {
			hint += "  (the inventory index is loading: counts may be short)"
		}
	}
	out = append(out, "", th.Text.Render(fit(" "+m.clean(hint), m.width, false, ell)),
		th.Muted.Render(fit(" enter show in the grid  "+firstKey(m.keys.RunCommand)+" run a command on it  "+
			firstKey(m.keys.RunAction)+" run an action on it  :save-collection NAME saves the grid's filter", m.width, false, ell)))
	return padLines(out, height)
}

// collectionsHelpItems is the status line's help for the view.
func (m *Model) collectionsHelpItems() []helpItem {
	k := &m.keys
	items := []helpItem{{moveLabel(k), "move"}, item(k.Open, "show in grid")}
	if m.may(engine.PermActionsRun) {
		items = append(items, item(k.RunCommand, "command"), item(k.RunAction, "action"))
	}
	return append(items, item(k.Back, "back"))
}

// saveCollection saves the grid's filter as a collection.
func runSaveCollection(m Model, args string) (Model, tea.Cmd) {
	name := strings.TrimSpace(args)
	if name == "" {
		return m, m.notify("usage: :save-collection NAME (saves the grid's filter: "+strconv.Quote(m.grid.flt.Expr())+")", true)
	}
	if m.grid.fltErr != nil {
		return m, m.notify("save-collection: the filter does not parse: "+m.grid.fltErr.Error(), true)
	}
	expr := m.grid.flt.Expr()
	if expr == "" {
		return m, m.notify("save-collection: filter the grid first (/): a collection of every device is not one", true)
	}
	if m.denied(engine.PermCollectionsEdit, "saving a collection") {
		return m, nil
	}
	rq, ctx := m.feed.caps.req, m.feed.ctx
	if rq == nil {
		return m, m.notify("collections.save: this console cannot send requests to the engine", true)
	}
	return m, func() tea.Msg {
		c, err := engine.Ask(ctx, rq, engine.SaveCollection{Name: name, Expr: expr})
		if err != nil {
			return collectionSavedMsg{err: err}
		}
		return collectionSavedMsg{text: "collection " + c.Name + " saved: " + c.Expr + " (" + Thousands(c.Members) + " " +
			plural(c.Members, "member", "members") + " now)", name: c.Name, expr: expr}
	}
}

func runRemoveCollection(m Model, args string) (Model, tea.Cmd) {
	name := strings.TrimSpace(args)
	if name == "" {
		return m, m.notify("usage: :rm-collection NAME", true)
	}
	if m.denied(engine.PermCollectionsEdit, "removing a collection") {
		return m, nil
	}
	rq, ctx := m.feed.caps.req, m.feed.ctx
	if rq == nil {
		return m, m.notify("collections.remove: this console cannot send requests to the engine", true)
	}
	return m, func() tea.Msg {
		_, err := engine.Ask(ctx, rq, engine.RemoveCollection{Name: name})
		return collectionSavedMsg{text: "collection " + name + " removed", err: err}
	}
}

func runShowCollection(m Model, args string) (Model, tea.Cmd) {
	name := strings.TrimSpace(args)
	if name == "" {
		nm, cmd := m.switchTo(pageCollections)
		return nm, cmd
	}
	if i := m.collectionIndex(name); i >= 0 {
		return m, m.showCollection(m.colls.list[i])
	}
	return m, m.loadCollections(false, name)
}

func completeCollections(m *Model, args string) []suggestion {
	var names []string
	for _, c := range m.colls.list {
		names = append(names, c.Name)
	}
	return completeWords(m, "collection", args, names, nil)
}
