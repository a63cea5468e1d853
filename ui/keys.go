package ui

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"charm.land/bubbles/v2/key"

	"github.com/rmmhq/rmm/engine"
)

// KeyMap is every key the console answers to, by action. The short help in
// the status line and the help overlay (?) are generated from it, so what
// the screen says is what the keys do. Options.Keys overrides it by action
// name (see Actions).
//
// Some keys are fixed and not in the map: ctrl+c always quits, 1..9 switch
// views, and text inputs (the filter, the command palette) keep their
// editing keys (enter, esc, backspace, tab, up/down, ctrl+u, ctrl+w).
type KeyMap struct {
	Up, Down         key.Binding // move the selection; scroll the detail, settings and help
	PageUp, PageDown key.Binding
	HalfUp, HalfDown key.Binding
	Top, Bottom      key.Binding
	Open             key.Binding // the selected device's detail view
	Back             key.Binding // close help, leave a view, clear the filter
	Filter           key.Binding // type a filter
	Command          key.Binding // open the command palette
	Sort, Reverse    key.Binding
	Group            key.Binding // group the grid by site
	Mark             key.Binding // mark/unmark the selected device and go to the next
	MarkAll          key.Binding // mark every device the filter shows
	ClearMarks       key.Binding
	Help, Quit       key.Binding

	// Requests to the engine, each in its view. They are offered only
	// when the console can send requests and the role holds the
	// permission; see Model.may.
	PollNow key.Binding // devices: sweep every device now
	Ack     key.Binding // alerts: acknowledge the marked alerts, or the selected one
	Resolve key.Binding // alerts: resolve the marked alerts, or the selected one
	Snooze  key.Binding // alerts: snooze the marked alerts, or the selected one

	MarkAlerts key.Binding // alerts: mark every alert the filter shows
	RunNow     key.Binding // schedules: run the selected job now
	Refresh    key.Binding // audit, notifications: read the rows again

	RetrySend key.Binding // notifications: queue the selected failed message again

	Shell     key.Binding // devices, detail: the remote PowerShell pane on the device (rshell.go)
	RunAction key.Binding // devices, detail: the action dialog on the marked devices, or the selected one (actions.go)

	RunCommand  key.Binding // devices, detail, collections: the command dialog (command.go)
	Collections key.Binding // devices: the Collections view (collections.go)
	MaskHost    key.Binding // actions: mask host names in a command run's groups
	Cancel      key.Binding // actions: cancel the selected run, or the selected queued action
	ExportRun   key.Binding // actions: export the open run's results (CSV or JSON)

	// The Patches view (patches.go).
	PatchView       key.Binding // the hosts list or the updates list
	PatchState      key.Binding // next state filter
	PatchClass      key.Binding // next classification filter
	PatchRing       key.Binding // next ring (for approvals and installs)
	PatchApprove    key.Binding // approve the selected update for the ring
	PatchDeny       key.Binding // deny it
	PatchApproveAll key.Binding // approve every shown update that needs it
	PatchInstall    key.Binding // install the selected update on the ring, or on the selected host
	PatchInstallAll key.Binding // install every approved update on the ring
	PatchScan       key.Binding // scan the ring, or the selected host
	PatchCancel     key.Binding // cancel the selected host's install job
}

// action is one configurable action: its name in the config, what it
// does (for the help), and its binding in a KeyMap.
type action struct {
	name, desc string
	group      string // the help column it is listed in
	// pages are the views where the action's keys work; nil is every
	// view. One key may serve two actions whose views differ (a marks
	// all devices, a acknowledges an alert).
	pages []pageID
	// perm is what the request the action sends needs; "" for actions
	// that send none.
	perm    engine.Permission
	binding func(*KeyMap) *key.Binding
}

// Help columns.
const (
	groupMove      = "Move"
	groupDevices   = "Devices"
	groupAlerts    = "Alerts"
	groupSchedules = "Schedules"
	groupAudit     = "Audit"
	groupActions   = "Actions"
	groupPatches   = "Patches"
	groupGeneral   = "General"
)

// Where actions apply.
var (
	onDevices   = []pageID{pageDevices}
	onAlerts    = []pageID{pageAlerts}
	onSchedules = []pageID{pageSchedules}
	onAudit     = []pageID{pageAudit, pageNotify}
	onNotify    = []pageID{pageNotify}
	onActions   = []pageID{pageActions}
	onPatches   = []pageID{pagePatches}
	onDevice    = []pageID{pageDevices, pageDetail}
	onLists     = []pageID{pageDevices, pageAlerts} // the views with sort and marks
	onCommand   = []pageID{pageDevices, pageDetail, pageCollections}
)

// actions is every configurable action, in help order. A function, not a
// package variable, so nothing can change it.
func actions() []action {
	return []action{
		{"up", "up", groupMove, nil, "", func(k *KeyMap) *key.Binding { return &k.Up }},
		{"down", "down", groupMove, nil, "", func(k *KeyMap) *key.Binding { return &k.Down }},
		{"page_up", "page up", groupMove, nil, "", func(k *KeyMap) *key.Binding { return &k.PageUp }},
		{"page_down", "page down", groupMove, nil, "", func(k *KeyMap) *key.Binding { return &k.PageDown }},
		{"half_page_up", "half page up", groupMove, nil, "", func(k *KeyMap) *key.Binding { return &k.HalfUp }},
		{"half_page_down", "half page down", groupMove, nil, "", func(k *KeyMap) *key.Binding { return &k.HalfDown }},
		{"top", "first row", groupMove, nil, "", func(k *KeyMap) *key.Binding { return &k.Top }},
		{"bottom", "last row", groupMove, nil, "", func(k *KeyMap) *key.Binding { return &k.Bottom }},
		{"open", "device detail; open a patch host or update", groupDevices, []pageID{pageDevices, pageAlerts, pagePatches}, "", func(k *KeyMap) *key.Binding { return &k.Open }},
		{"filter", "filter", groupDevices, []pageID{pageDevices, pageAlerts, pageAudit}, "", func(k *KeyMap) *key.Binding { return &k.Filter }},
		{"sort", "sort by next column", groupDevices, onLists, "", func(k *KeyMap) *key.Binding { return &k.Sort }},
		{"reverse_sort", "reverse sort", groupDevices, onLists, "", func(k *KeyMap) *key.Binding { return &k.Reverse }},
		{"group", "group by site", groupDevices, onDevices, "", func(k *KeyMap) *key.Binding { return &k.Group }},
		{"mark", "mark row, next row", groupDevices, onLists, "", func(k *KeyMap) *key.Binding { return &k.Mark }},
		{"mark_all", "mark all shown", groupDevices, onDevices, "", func(k *KeyMap) *key.Binding { return &k.MarkAll }},
		{"clear_marks", "clear marks", groupDevices, onLists, "", func(k *KeyMap) *key.Binding { return &k.ClearMarks }},
		{"poll_now", "poll every device now", groupDevices, onDevices, engine.PermDevicesPoll, func(k *KeyMap) *key.Binding { return &k.PollNow }},
		{"ack_alert", "acknowledge alert", groupAlerts, onAlerts, engine.PermAlertsEdit, func(k *KeyMap) *key.Binding { return &k.Ack }},
		{"resolve_alert", "resolve alert", groupAlerts, onAlerts, engine.PermAlertsEdit, func(k *KeyMap) *key.Binding { return &k.Resolve }},
		{"snooze_alert", "snooze alert (for a while)", groupAlerts, onAlerts, engine.PermAlertsEdit, func(k *KeyMap) *key.Binding { return &k.Snooze }},
		{"mark_all_alerts", "mark every alert shown", groupAlerts, onAlerts, "", func(k *KeyMap) *key.Binding { return &k.MarkAlerts }},
		{"run_schedule", "run the job now", groupSchedules, onSchedules, engine.PermConfigEdit, func(k *KeyMap) *key.Binding { return &k.RunNow }},
		{"refresh", "read the audit log or the outbox again", groupAudit, onAudit, "", func(k *KeyMap) *key.Binding { return &k.Refresh }},
		{"retry_notification", "queue a failed notification again", groupAudit, onNotify, engine.PermAlertsEdit, func(k *KeyMap) *key.Binding { return &k.RetrySend }},
		{"shell", "remote PowerShell on the device", groupDevices, onDevice, engine.PermActionsRun, func(k *KeyMap) *key.Binding { return &k.Shell }},
		{"action", "run an action on the marked (or selected) devices", groupDevices, onDevice, engine.PermActionsRun, func(k *KeyMap) *key.Binding { return &k.RunAction }},
		{"run_command", "run a PowerShell command on the marked or shown devices", groupDevices, onCommand, engine.PermActionsRun, func(k *KeyMap) *key.Binding { return &k.RunCommand }},
		{"collections", "the saved collections and their counts", groupDevices, onDevices, "", func(k *KeyMap) *key.Binding { return &k.Collections }},
		{"cancel", "cancel the run or the queued action", groupActions, onActions, engine.PermActionsRun, func(k *KeyMap) *key.Binding { return &k.Cancel }},
		{"mask_host", "mask host names in a command's groups", groupActions, onActions, "", func(k *KeyMap) *key.Binding { return &k.MaskHost }},
		{"export_results", "export the run's results", groupActions, onActions, "", func(k *KeyMap) *key.Binding { return &k.ExportRun }},
		{"patch_view", "hosts list / updates list", groupPatches, onPatches, "", func(k *KeyMap) *key.Binding { return &k.PatchView }},
		{"patch_state", "next state filter", groupPatches, onPatches, "", func(k *KeyMap) *key.Binding { return &k.PatchState }},
		{"patch_class", "next classification filter", groupPatches, onPatches, "", func(k *KeyMap) *key.Binding { return &k.PatchClass }},
		{"patch_ring", "next ring", groupPatches, onPatches, "", func(k *KeyMap) *key.Binding { return &k.PatchRing }},
		{"patch_approve", "approve the update for the ring", groupPatches, onPatches, engine.PermPatchesApprove, func(k *KeyMap) *key.Binding { return &k.PatchApprove }},
		{"patch_deny", "deny the update for the ring", groupPatches, onPatches, engine.PermPatchesApprove, func(k *KeyMap) *key.Binding { return &k.PatchDeny }},
		{"patch_approve_shown", "approve every shown update for the ring", groupPatches, onPatches, engine.PermPatchesApprove, func(k *KeyMap) *key.Binding { return &k.PatchApproveAll }},
		{"patch_install", "install the update on the ring, or on the host", groupPatches, onPatches, engine.PermPatchesInstall, func(k *KeyMap) *key.Binding { return &k.PatchInstall }},
		{"patch_install_ring", "install every approved update on the ring", groupPatches, onPatches, engine.PermPatchesInstall, func(k *KeyMap) *key.Binding { return &k.PatchInstallAll }},
		{"patch_scan", "scan the ring, or the host", groupPatches, onPatches, engine.PermDevicesPoll, func(k *KeyMap) *key.Binding { return &k.PatchScan }},
		{"patch_cancel", "cancel the host's install job", groupPatches, onPatches, engine.PermPatchesInstall, func(k *KeyMap) *key.Binding { return &k.PatchCancel }},
		{"command", "command palette", groupGeneral, nil, "", func(k *KeyMap) *key.Binding { return &k.Command }},
		{"back", "back / clear filter / close", groupGeneral, nil, "", func(k *KeyMap) *key.Binding { return &k.Back }},
		{"help", "help", groupGeneral, nil, "", func(k *KeyMap) *key.Binding { return &k.Help }},
		{"quit", "quit", groupGeneral, nil, "", func(k *KeyMap) *key.Binding { return &k.Quit }},
	}
}

// Actions returns the names Options.Keys accepts, in help order.
func Actions() []string {
	as := actions()
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.name
	}
	return out
}

// DefaultKeyMap returns the console's default keys.
func DefaultKeyMap() KeyMap {
	var k KeyMap
	defaults := map[string][]string{
		"up": {"up", "k"}, "down": {"down", "j"},
		"page_up": {"pgup"}, "page_down": {"pgdown"},
		"half_page_up": {"ctrl+u"}, "half_page_down": {"ctrl+d"},
		"top": {"g", "home"}, "bottom": {"G", "end"},
		"open": {"enter"}, "back": {"esc"},
		"filter": {"/"}, "command": {":"},
		"sort": {"s"}, "reverse_sort": {"S"}, "group": {"b"},
		"mark": {"space"}, "mark_all": {"a"}, "clear_marks": {"A"},
		"poll_now": {"r"}, "ack_alert": {"a"}, "resolve_alert": {"x"}, "snooze_alert": {"z"}, "mark_all_alerts": {"ctrl+a"},
		"run_schedule": {"x", "enter"}, "refresh": {"r"}, "retry_notification": {"R"},
		"shell": {"p"}, "action": {"x"}, "cancel": {"c"}, "export_results": {"e"},
		"run_command": {"!"}, "mask_host": {"m"}, "collections": {"C"},
		"patch_view": {"tab", "v"}, "patch_state": {"f"}, "patch_class": {"c"}, "patch_ring": {"R"},
		"patch_approve": {"a"}, "patch_deny": {"d"}, "patch_approve_shown": {"A"}, "patch_install": {"i"},
		"patch_install_ring": {"I"}, "patch_scan": {"r"}, "patch_cancel": {"x"},
		"help": {"?"}, "quit": {"q"},
	}
	for _, a := range actions() {
		a.set(&k, defaults[a.name])
	}
	return k
}

func (a action) set(k *KeyMap, keys []string) {
	*a.binding(k) = key.NewBinding(key.WithKeys(keys...), key.WithHelp(keyLabel(keys), a.desc))
}

// keyLabel is how the help writes a binding's keys: "up/k", "space";
// "f /" when one of them is the slash.
func keyLabel(keys []string) string {
	if slices.Contains(keys, "/") {
		return strings.Join(keys, " ")
	}
	return strings.Join(keys, "/")
}

// WithKeys returns the key map with the actions in overrides bound to
// their new keys (names as Actions lists them; keys as a terminal names
// them: "f", "ctrl+f", "F2", "space", "alt+enter"). It is an error to name
// an unknown action, to give an action no keys, to write a key no
// terminal sends, to take a fixed key (ctrl+c, 1..9), or to bind one key
// to two actions that work in the same view.
func (k KeyMap) WithKeys(overrides map[string][]string) (KeyMap, error) {
	as := actions()
	byName := make(map[string]action, len(as))
	for _, a := range as {
		byName[a.name] = a
	}
	var errs []error
	names := make([]string, 0, len(overrides))
	for name := range overrides {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		keys := overrides[name]
		a, ok := byName[name]
		if !ok {
			errs = append(errs, fmt.Errorf("keys: unknown action %q%s", name, suggest(name, Actions())))
			continue
		}
		if len(keys) == 0 {
			errs = append(errs, fmt.Errorf("keys.%s: no keys given (the default is %s)", name, keyLabel(a.binding(ptr(DefaultKeyMap())).Keys())))
			continue
		}
		norm := make([]string, 0, len(keys))
		for _, ks := range keys {
			n, err := NormalizeKey(ks)
			if err != nil {
				errs = append(errs, fmt.Errorf("keys.%s: %w", name, err))
				continue
			}
			if n == "ctrl+c" && name != "quit" {
				errs = append(errs, fmt.Errorf("keys.%s: ctrl+c always quits", name))
				continue
			}
			if len(n) == 1 && n[0] >= '1' && n[0] <= '9' {
				errs = append(errs, fmt.Errorf("keys.%s: %s switches to view %s", name, n, n))
				continue
			}
			if !slices.Contains(norm, n) {
				norm = append(norm, n)
			}
		}
		if len(norm) > 0 {
			a.set(&k, norm)
		}
	}
	// One key, one action in each view.
	owners := map[string][]action{}
	for _, a := range as {
		for _, ks := range a.binding(&k).Keys() {
			for _, prev := range owners[ks] {
				if overlap(prev.pages, a.pages) {
					errs = append(errs, fmt.Errorf("keys: %s is bound to both %s and %s", ks, prev.name, a.name))
					break
				}
			}
			owners[ks] = append(owners[ks], a)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return DefaultKeyMap(), err
	}
	return k, nil
}

func ptr[T any](v T) *T { return &v }

// overlap reports whether two actions' views meet (nil is every view).
func overlap(a, b []pageID) bool {
	if a == nil || b == nil {
		return true
	}
	for _, p := range a {
		if slices.Contains(b, p) {
			return true
		}
	}
	return false
}

// ValidateKeys checks key overrides as Options.Keys takes them (see
// KeyMap.WithKeys), so main can reject a bad config before opening the
// console.
func ValidateKeys(overrides map[string][]string) error {
	_, err := DefaultKeyMap().WithKeys(overrides)
	return err
}

// keyNames are the named keys, as Bubble Tea writes them, with the other
// spellings people use for them.
func keyNames() map[string]string {
	m := map[string]string{
		"enter": "enter", "return": "enter", "tab": "tab", "backspace": "backspace",
		"esc": "esc", "escape": "esc", "space": "space", "up": "up", "down": "down",
		"left": "left", "right": "right", "insert": "insert", "ins": "insert",
		"delete": "delete", "del": "delete", "pgup": "pgup", "pageup": "pgup",
		"pgdown": "pgdown", "pagedown": "pgdown", "pgdn": "pgdown", "home": "home", "end": "end",
	}
	for i := 1; i <= 20; i++ {
		f := fmt.Sprintf("f%d", i)
		m[f] = f
	}
	return m
}

// NormalizeKey returns a key as Bubble Tea names it ("ctrl+alt+x",
// "pgdown", "G"), or an error for a key no terminal sends. Named keys
// and modifiers ignore case and take common spellings ("Escape", "PageDown",
// "Alt+Ctrl+X"); a single character is kept as is, so "G" is shift+g.
func NormalizeKey(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty key")
	}
	if s == " " {
		return "space", nil
	}
	if utf8.RuneCountInString(s) == 1 {
		r, _ := utf8.DecodeRuneInString(s)
		if !unicode.IsPrint(r) {
			return "", fmt.Errorf("key %q is not printable; name it (e.g. tab, esc)", s)
		}
		return s, nil
	}
	parts := strings.Split(s, "+")
	base := parts[len(parts)-1]
	mods := parts[:len(parts)-1]
	if base == "" && len(parts) >= 2 { // "ctrl++"
		base, mods = "+", parts[:len(parts)-2]
	}
	order := []string{"ctrl", "alt", "shift", "meta", "hyper", "super"}
	have := map[string]bool{}
	for _, m := range mods {
		m = strings.ToLower(m)
		if m == "control" {
			m = "ctrl"
		}
		if !slices.Contains(order, m) {
			return "", fmt.Errorf("key %q: unknown modifier %q (ctrl, alt, shift, meta, hyper, super)", s, m)
		}
		have[m] = true
	}
	name := base
	if utf8.RuneCountInString(base) != 1 {
		n, ok := keyNames()[strings.ToLower(base)]
		if !ok {
			return "", fmt.Errorf("key %q: unknown key name %q (e.g. enter, esc, tab, space, up, pgdown, f2, or one character)", s, base)
		}
		name = n
	} else if len(mods) > 0 {
		name = strings.ToLower(base) // ctrl+D is ctrl+d
	}
	var b strings.Builder
	for _, m := range order {
		if have[m] {
			b.WriteString(m + "+")
		}
	}
	b.WriteString(name)
	return b.String(), nil
}

// shortHelpItems is the status line's help for the current view: the
// few keys a person needs to find the rest, and the requests the user
// may send here.
func (m *Model) shortHelpItems() []helpItem {
	k := &m.keys
	move := helpItem{moveLabel(k), "move"}
	tail := []helpItem{item(k.Command, "command"), item(k.Help, "help"), item(k.Quit, "quit")}
	var items []helpItem
	switch m.page {
	case pageShell:
		return m.shellHelpItems()
	case pageActions:
		items = m.actionsHelpItems()
	case pageCollections:
		items = m.collectionsHelpItems()
	case pageDetail:
		items = []helpItem{item(k.Back, "back"), {moveLabel(k), "scroll"}, {keyTabPrev + "/" + keyTabNext, "tab"}}
		if m.detailOnInventory() && m.may(engine.PermDevicesPoll) {
			items = append(items, helpItem{keyCollect, "collect"})
		}
		if m.may(engine.PermActionsRun) {
			items = append(items, item(k.Shell, "PowerShell"), item(k.RunAction, "action"))
		}
	case pageSettings:
		items = []helpItem{item(k.Back, "back"), move}
	case pageAlerts:
		items = []helpItem{move, item(k.Open, "detail")}
		if m.may(engine.PermAlertsEdit) {
			items = append(items, item(k.Ack, "ack"), item(k.Resolve, "resolve"))
		}
		items = append(items, item(k.Back, "back"))
	case pageSchedules:
		items = []helpItem{move}
		if m.may(engine.PermConfigEdit) {
			items = append(items, item(k.RunNow, "run now"))
		}
		items = append(items, item(k.Back, "back"))
	case pageAudit:
		items = []helpItem{move, item(k.Filter, "filter"), item(k.Refresh, "refresh"), item(k.Back, "back")}
	case pageNotify:
		items = []helpItem{move, item(k.Refresh, "refresh")}
		if m.may(engine.PermAlertsEdit) {
			items = append(items, item(k.RetrySend, "retry failed"))
		}
		items = append(items, item(k.Back, "back"))
	case pagePatches:
		items = []helpItem{move, item(k.Open, "open"), item(k.PatchView, "hosts/updates"), item(k.Back, "back")}
	default:
		items = []helpItem{move, item(k.Filter, "filter"), item(k.Open, "detail"), item(k.Mark, "mark")}
		if m.may(engine.PermDevicesPoll) {
			items = append(items, item(k.PollNow, "poll now"))
		}
		if m.may(engine.PermActionsRun) {
			items = append(items, item(k.RunAction, "action"), item(k.RunCommand, "run"), item(k.Shell, "PowerShell"))
		}
	}
	return append(items, tail...)
}

// helpItem is one "key description" pair.
type helpItem struct{ key, desc string }

func item(b key.Binding, desc string) helpItem {
	return helpItem{firstKey(b), desc}
}

func firstKey(b key.Binding) string {
	if ks := b.Keys(); len(ks) > 0 {
		return ks[0]
	}
	return ""
}

// moveLabel is "j/k" for the default keys: the first single-character
// keys of down and up, or their first keys when they have none.
func moveLabel(k *KeyMap) string {
	pick := func(b key.Binding) string {
		for _, ks := range b.Keys() {
			if utf8.RuneCountInString(ks) == 1 {
				return ks
			}
		}
		return firstKey(b)
	}
	return pick(k.Down) + "/" + pick(k.Up)
}
