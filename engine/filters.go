package engine

import (
	"time"

	"github.com/rmmhq/rmm/engine/filter"
)

// The filter grammar (engine/filter) over devices and alerts: what the
// console's "/" filter, saved views, collections, rmm run --filter, rmm
// devices --filter and rmm alerts --filter read. One grammar for every
// front end; the device schema is engine/filter's own (filter.Devices),
// the alert schema is here.

// FilterRow is what a device filter (filter.DeviceFilter; its schema is
// engine/filter's, where the config file's collection check reads it
// too) reads of the device.
func (d *DeviceState) FilterRow() filter.Row {
	return filter.Row{Hostname: d.Hostname, Site: d.Site, Status: string(d.Status), OSName: d.OSName, OSVersion: d.OSVersion,
		Tags: d.Tags, Groups: d.Groups, HasMetrics: d.HasMetrics, CPU: d.CPUPct, Mem: d.MemPct, Disk: d.DiskFreePct,
		LastBoot: d.LastBoot, Reboot: d.Reboot, Facts: d.Facts}
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
	return alertSchema.Parse(expr)
}

// AlertSortKey resolves an alert column name ("severity", "host",
// "raised"...) to its canonical name.
func AlertSortKey(name string) (string, error) { return alertSchema.SortKey(name) }

// AlertSortKeys are the alert columns a sort: term takes, canonical name
// first.
func AlertSortKeys() [][]string { return alertSchema.SortKeys }

// AlertFilterFields names the alert filter's fields, for messages.
func AlertFilterFields() string { return alertSchema.FieldList() }

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
