package engine

import (
	"time"

	"github.com/rmmhq/rmm/engine/filter"
)

// The filter grammar (engine/filter) over devices and alerts: what the
// console's "/" filter, saved views, rmm devices --filter and rmm alerts
// --filter read. One grammar for every front end.

// DeviceFilter is a parsed device filter expression.
type DeviceFilter = filter.Filter[DeviceState]

// ParseDeviceFilter reads a device filter expression:
//
//	web                free text: hostname, site, status, OS edition
//	                   ("Server 2019 Datacenter", without "Microsoft
//	                   Windows") or version, a tag
//	host:web           substring of the hostname (host=web: exactly)
//	site:lon           substring of the site (site=London: the whole site)
//	status:off         status starting with "off" (status=offline: exactly)
//	os:2016            substring of the OS name or version
//	tag:sql  tag:sql*  a tag equal to "sql", or starting with it
//	group:finance      a group, like tag:
//	cpu>80 mem>=90     the latest metrics (<, <=, >, >=, =); disk is the
//	disk<10            lowest free % of the fixed volumes; a device
//	                   without metrics matches no comparison
//	!tag:prod -status:online, "new york", sort:cpu sort:-cpu
//
// A bad term is a *filter.Error naming it.
func ParseDeviceFilter(expr string) (DeviceFilter, error) {
	return filter.Parse(deviceSchema, expr)
}

// DeviceSortKey resolves a device column name ("cpu", "last_seen",
// "host"...) to its canonical name.
func DeviceSortKey(name string) (string, error) { return filter.SortKey(deviceSchema, name) }

// DeviceFilterFields names the device filter's fields, for messages.
func DeviceFilterFields() string { return filter.FieldList(deviceSchema) }

// DeviceSortKeys are the device columns a sort: term takes, canonical
// name first.
func DeviceSortKeys() [][]string { return deviceSchema.SortKeys }

func deviceMetric(get func(*DeviceState) float64) func(*DeviceState) (float64, bool) {
	return func(d *DeviceState) (float64, bool) { return get(d), d.HasMetrics }
}

// osEdition is a Windows caption without "Microsoft Windows ": free text
// "ws" or "soft" should not match every Windows machine. os: still sees
// the whole caption.
func osEdition(name string) string {
	const prefix = "microsoft windows "
	if filter.HasPrefixFold(name, prefix) {
		return name[len(prefix):]
	}
	return name
}

var deviceSchema = &filter.Schema[DeviceState]{
	Fields: []filter.Field[DeviceState]{
		{Names: []string{"host", "hostname", "name"}, Kind: filter.Text, Text: func(d *DeviceState) string { return d.Hostname }},
		{Names: []string{"site"}, Kind: filter.Text, Text: func(d *DeviceState) string { return d.Site }, Example: "london"},
		{Names: []string{"status"}, Kind: filter.Prefix, Text: func(d *DeviceState) string { return string(d.Status) }, Example: "offline"},
		{Names: []string{"os"}, Kind: filter.Text, Text: func(d *DeviceState) string { return d.OSName },
			Alt: func(d *DeviceState) string { return d.OSVersion }, Example: "2019"},
		{Names: []string{"tag", "tags"}, Kind: filter.Labels, Labels: func(d *DeviceState) []string { return d.Tags }, Example: "sql"},
		{Names: []string{"group", "groups"}, Kind: filter.Labels, Labels: func(d *DeviceState) []string { return d.Groups }, Example: "finance"},
		{Names: []string{"cpu"}, Kind: filter.Number, Number: deviceMetric(func(d *DeviceState) float64 { return d.CPUPct })},
		{Names: []string{"mem", "memory"}, Kind: filter.Number, Number: deviceMetric(func(d *DeviceState) float64 { return d.MemPct })},
		{Names: []string{"disk"}, Kind: filter.Number, Number: deviceMetric(func(d *DeviceState) float64 { return d.DiskFreePct })},
	},
	FreeText: func(d *DeviceState, text string) bool {
		if filter.ContainsFold(d.Hostname, text) || filter.ContainsFold(d.Site, text) ||
			filter.ContainsFold(string(d.Status), text) || filter.ContainsFold(osEdition(d.OSName), text) ||
			filter.ContainsFold(d.OSVersion, text) {
			return true
		}
		for _, tag := range d.Tags {
			if filter.ContainsFold(tag, text) {
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

// AlertFilter is a parsed alert filter expression.
type AlertFilter = filter.Filter[Alert]

// ParseAlertFilter reads an alert filter expression, the device grammar
// over an alert's fields:
//
//	disk               free text: hostname, type, instance, severity,
//	                   state, message
//	host:WS-00         substring of the hostname (host=WS-0042: exactly)
//	sev:crit           severity starting with the text (severity= too)
//	state:ack          state starting with the text (active, acknowledged,
//	                   snoozed: an alert snoozed now)
//	type:disk          substring of the type (disk_used, offline, ...)
//	on:C:              substring of the instance (a volume, a service)
//	msg:"93%"          substring of the message
//	count>10           times seen
//	!sev:info, sort:-count sort:host
func ParseAlertFilter(expr string) (AlertFilter, error) {
	return filter.Parse(alertSchema, expr)
}

// AlertSortKey resolves an alert column name ("severity", "host",
// "raised"...) to its canonical name.
func AlertSortKey(name string) (string, error) { return filter.SortKey(alertSchema, name) }

// AlertSortKeys are the alert columns a sort: term takes, canonical name
// first.
func AlertSortKeys() [][]string { return alertSchema.SortKeys }

// AlertFilterFields names the alert filter's fields, for messages.
func AlertFilterFields() string { return filter.FieldList(alertSchema) }

var alertSchema = &filter.Schema[Alert]{
	Fields: []filter.Field[Alert]{
		{Names: []string{"host", "hostname", "name"}, Kind: filter.Text, Text: func(a *Alert) string { return a.Hostname }},
		{Names: []string{"sev", "severity"}, Kind: filter.Prefix, Text: func(a *Alert) string { return string(a.Severity) }, Example: "critical"},
		{Names: []string{"state"}, Kind: filter.Prefix, Text: alertStateWord, Example: "active"},
		{Names: []string{"type"}, Kind: filter.Text, Text: func(a *Alert) string { return a.Type }, Example: "disk"},
		{Names: []string{"on", "instance"}, Kind: filter.Text, Text: func(a *Alert) string { return a.Instance }, Example: "C:"},
		{Names: []string{"msg", "message"}, Kind: filter.Text, Text: func(a *Alert) string { return a.Message }, Example: "full"},
		{Names: []string{"count"}, Kind: filter.Number, Number: func(a *Alert) (float64, bool) { return float64(a.Count), true }},
	},
	FreeText: func(a *Alert, text string) bool {
		return filter.ContainsFold(a.Hostname, text) || filter.ContainsFold(a.Type, text) || filter.ContainsFold(a.Instance, text) ||
			filter.ContainsFold(string(a.Severity), text) || filter.ContainsFold(alertStateWord(a), text) ||
			filter.ContainsFold(a.Message, text)
	},
	SortKeys: [][]string{
		{"severity", "sev"}, {"host", "hostname"}, {"type"}, {"state"}, {"count", "seen"}, {"raised", "first_seen"}, {"last", "last_seen"},
	},
}

// alertStateWord is an alert's state as the filter reads it: Snoozed
// while it is, else Active or Acknowledged.
func alertStateWord(a *Alert) string {
	if a.Snoozed(time.Now()) {
		return "Snoozed"
	}
	return string(a.State)
}
