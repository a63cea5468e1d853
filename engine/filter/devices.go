package filter

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Row is what the device filter reads of one device. The engine fills it
// from a device's state (engine.DeviceState.FilterRow).
type Row struct {
	Hostname  string
	Site      string
	Status    string // Online, Offline, Unknown
	OSName    string // "Microsoft Windows Server 2019 Datacenter"
	OSVersion string // "10.0.17763"
	Tags      []string
	Groups    []string

	HasMetrics     bool
	CPU, Mem, Disk float64 // latest %; Disk is the lowest free % of the fixed volumes

	LastBoot time.Time // from the latest poll; zero: unknown (Facts' is used then)
	Reboot   Tri       // a reboot pending, from the latest poll (Facts' when Unknown)

	Facts *Facts // nil: no inventory indexed yet
}

// DeviceFilter is a parsed device filter expression.
type DeviceFilter = Filter[Row]

// Parse reads a device filter expression:
//
//	web                free text: a case-insensitive substring of the
//	                   hostname, site, status, OS edition ("Server 2019
//	                   Datacenter", without "Microsoft Windows") or
//	                   version, or a tag
//	host:web           substring of the hostname (host=web: the whole name)
//	site:lon           substring of the site (site=London: the whole site)
//	status:off         status starting with "off" (status=offline: exactly)
//	os:2016            substring of the OS name or version
//	tag:sql  tag:sql*  a tag equal to "sql", or starting with it
//	group:finance      a group, like tag:
//	cpu>80 mem>=90     comparisons of the latest metrics (<, <=, >, >=, =);
//	disk<10            disk is the lowest free % of the fixed volumes; a
//	                   device without metrics matches no comparison
//	software:zoom      an installed application whose name holds "zoom"
//	                   (software="Zoom Workplace (64-bit)": the whole name)
//	software.version<5.17
//	                   qualifies the software: term before it: that same
//	                   application's version compared part by part
//	                   (<, <=, >, >=, =; software.version:5.17 starts with)
//	service:Spooler    a service by name (Spooler* a prefix), any state;
//	service:Spooler=stopped  in that state (a prefix: stop, run)
//	installed:KB5034441      the hotfix is in the host's hotfix list
//	missing:KB5034441        the host's hotfix list lacks it
//	bitlocker:off      the system drive is not protected (on, off, unknown)
//	firewall:off       a firewall profile is off (on: every profile is on)
//	defender:off       Defender antivirus or real-time protection is off
//	reboot:pending     a reboot is pending (reboot:no: none is)
//	uptime>30d         time since the last boot (d, h, m, w; a bare number
//	                   is days)
//	!tag:prod -status:online, "new york", sort:cpu sort:-cpu
//
// Inventory terms read what the last inventory stored: a device whose
// inventory of that kind was never collected matches none of them, and
// so matches each of them negated.
//
// A term it cannot read is an *Error naming the term; the returned
// Filter then matches nothing.
func Parse(expr string) (DeviceFilter, error) { return Devices.Parse(expr) }

// MustParse is Parse for expressions known to be good (tests, built-in
// views); it panics on an error.
func MustParse(expr string) DeviceFilter {
	f, err := Parse(expr)
	if err != nil {
		panic("filter.MustParse(" + strconv.Quote(expr) + "): " + err.Error())
	}
	return f
}

// SortColumns are the device columns a sort: term names, each with its
// aliases, canonical name first, in the console's column order.
func SortColumns() [][]string { return Devices.SortKeys }

// ParseColumn reads a device column name as sort: takes it ("cpu",
// "last_seen", "host"...), ignoring case, and returns its canonical name.
func ParseColumn(name string) (string, error) { return Devices.SortKey(name) }

// Fields names the device filter's fields, for messages and the help.
func Fields() string { return Devices.FieldList() }

// osEdition is a Windows caption without "Microsoft Windows ": free text
// "ws" or "soft" should not match every Windows machine. os: still sees
// the whole caption.
func osEdition(name string) string {
	const prefix = "microsoft windows "
	if HasPrefixFold(name, prefix) {
		return name[len(prefix):]
	}
	return name
}

func rowFacts(r *Row) *Facts { return r.Facts }

func metric(get func(*Row) float64) func(*Row) (float64, bool) {
	return func(r *Row) (float64, bool) { return get(r), r.HasMetrics }
}

// security is a security-inventory field: on, off, or unknown when the
// inventory was never collected or did not say.
func security(get func(d *FactsDoc) string) func(*Row) Tri {
	return func(r *Row) Tri {
		if !r.Facts.HasSecurity() {
			return Unknown
		}
		switch get(&r.Facts.doc) {
		case "on":
			return Yes
		case "off":
			return No
		}
		return Unknown
	}
}

var onOff = [3][]string{Unknown: {"unknown"}, No: {"off", "no", "false", "disabled"}, Yes: {"on", "yes", "true", "enabled"}}

// Devices is the device schema: what a device filter may say of a Row.
var Devices = &Schema[Row]{
	Fields: []Field[Row]{
		{Names: []string{"host", "hostname", "name"}, Kind: Text, Text: func(r *Row) string { return r.Hostname }},
		{Names: []string{"site"}, Kind: Text, Text: func(r *Row) string { return r.Site }, Example: "london"},
		{Names: []string{"status"}, Kind: Prefix, Text: func(r *Row) string { return r.Status }, Example: "offline"},
		{Names: []string{"os"}, Kind: Text, Text: func(r *Row) string { return r.OSName },
			Alt: func(r *Row) string { return r.OSVersion }, Example: "2019"},
		{Names: []string{"tag", "tags"}, Kind: Labels, Labels: func(r *Row) []string { return r.Tags }, Example: "sql"},
		{Names: []string{"group", "groups"}, Kind: Labels, Labels: func(r *Row) []string { return r.Groups }, Example: "finance"},
		{Names: []string{"cpu"}, Kind: Number, Number: metric(func(r *Row) float64 { return r.CPU })},
		{Names: []string{"mem", "memory"}, Kind: Number, Number: metric(func(r *Row) float64 { return r.Mem })},
		{Names: []string{"disk"}, Kind: Number, Number: metric(func(r *Row) float64 { return r.Disk })},
		{Names: []string{"software", "app"}, Kind: Apps, Facts: rowFacts, Inventory: true, Example: "Zoom"},
		{Names: []string{"software.version", "app.version"}, Kind: Version, Qualifies: "software", Inventory: true, Example: "5.17"},
		{Names: []string{"service", "svc"}, Kind: Services, Facts: rowFacts, Inventory: true, Example: "Spooler=stopped"},
		{Names: []string{"installed", "hotfix", "kb"}, Kind: Hotfixes, Facts: rowFacts, Inventory: true, Example: "KB5034441"},
		{Names: []string{"missing"}, Kind: Hotfixes, Missing: true, Facts: rowFacts, Inventory: true, Example: "KB5034441"},
		{Names: []string{"bitlocker"}, Kind: State, States: onOff, Inventory: true,
			State: security(func(d *FactsDoc) string { return d.BitLocker })},
		{Names: []string{"firewall"}, Kind: State, States: onOff, Inventory: true,
			State: security(func(d *FactsDoc) string { return d.Firewall })},
		{Names: []string{"defender"}, Kind: State, States: onOff, Inventory: true,
			State: security(func(d *FactsDoc) string { return d.Defender })},
		{Names: []string{"reboot"}, Kind: State, Inventory: true,
			States: [3][]string{No: {"no", "none", "false", "clear"}, Yes: {"pending", "yes", "true", "required"}},
			State: func(r *Row) Tri {
				if r.Reboot != Unknown {
					return r.Reboot
				}
				return r.Facts.Reboot()
			}},
		{Names: []string{"uptime"}, Kind: Age, Inventory: true, Example: "30d",
			Time: func(r *Row) time.Time {
				if !r.LastBoot.IsZero() {
					return r.LastBoot
				}
				return r.Facts.LastBoot()
			}},
	},
	FreeText: func(r *Row, text string) bool {
		if ContainsFold(r.Hostname, text) || ContainsFold(r.Site, text) ||
			ContainsFold(r.Status, text) || ContainsFold(osEdition(r.OSName), text) ||
			ContainsFold(r.OSVersion, text) {
			return true
		}
		for _, tag := range r.Tags {
			if ContainsFold(tag, text) {
				return true
			}
		}
		return false
	},
	SortKeys: [][]string{
		{"hostname", "host", "name"}, {"site"}, {"status"}, {"cpu"}, {"mem", "memory"},
		{"disk", "disk_free"}, {"last_seen", "seen", "lastseen"}, {"os"},
	},
}

// StaticFields are the device fields that do not change from poll to
// poll: what a patch ring selects by.
var StaticFields = []string{"host", "site", "os", "tag", "group"}

// ParseStatic reads a device filter of StaticFields and free text only,
// whose members do not change from poll to poll (a patch ring's devices;
// "" and "*" are every device). A term of another field is an *Error
// naming it; a sort: term is refused (it selects nothing).
func ParseStatic(expr string) (DeviceFilter, error) {
	if e := strings.TrimSpace(expr); e == "" || e == "*" {
		return DeviceFilter{}, nil
	}
	f, err := Parse(expr)
	if err != nil {
		return f, err
	}
	if _, _, sorted := f.Sort(); sorted {
		return Nothing[Row](), &Error{Term: expr, Msg: "a sort: term selects nothing; leave it out"}
	}
	for _, t := range f.FieldTerms() {
		if !slices.Contains(StaticFields, t.Field) {
			return Nothing[Row](), &Error{Term: t.Term, Msg: "selects by " + strings.Join(StaticFields, ", ") +
				" or text only (status, metrics and inventory change from poll to poll)"}
		}
	}
	return f, nil
}
