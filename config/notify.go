package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rmmhq/rmm/engine/notify"
	"github.com/rmmhq/rmm/schedule"
)

// NotificationsConfig is the `notifications:` section: where alert
// changes are sent. Secrets are never here: each channel's lives in the
// keyring or vault as the credential "notify:NAME" (rmm notify secret).
type NotificationsConfig struct {
	MaxAge     time.Duration // notifications.max_age
	Attempts   int           // notifications.attempts
	Backoff    time.Duration // notifications.backoff
	MaxBackoff time.Duration // notifications.max_backoff
	Keep       time.Duration // notifications.keep
	Channels   map[string]ChannelConfig
	Routes     []RouteConfig
}

// ChannelConfig is one entry of notifications.channels, as written.
type ChannelConfig struct {
	Type     string
	Host     string
	Port     int
	TLS      string
	From     string
	To       []string
	Auth     string
	CABundle string
	URL      string
	Headers  map[string]string
	Line     int
}

// RouteConfig is one entry of notifications.routes, as written.
type RouteConfig struct {
	Name      string
	Severity  []string
	Types     []string
	Sites     []string
	Groups    []string
	Tags      []string
	Channels  []string
	Repeat    time.Duration
	Digest    time.Duration
	OnResolve bool
	OnAck     bool
	Quiet     *QuietHoursConfig
	Line      int
}

// QuietHoursConfig is a route's quiet_hours, as written.
type QuietHoursConfig struct {
	From, To string // HH:MM
	TimeZone string // IANA name or Local; "": schedules.timezone
	Days     []string
	Except   []string
}

// ReportsConfig is the `reports:` section.
type ReportsConfig struct {
	Dir       string  // reports.dir: where scheduled and mailed reports are written
	SLATarget float64 // reports.sla_target: availability % a device or site must reach
}

// ScheduledReport is one entry of schedules.reports.
type ScheduledReport struct {
	Name   string
	Type   string // inventory, patches, uptime, alerts, security, executive
	When   string // a schedule.Spec: daily 06:00, weekly mon 06:00, monthly 1 06:00
	Format string // csv, html, pdf, xlsx
	Route  string // mailed through this route's channels
	Site   string
	Group  string
	Period string // previous-day, previous-week, previous-month, or a duration back from now ("30d"); "": from When
	Line   int
}

// ReportTypes lists the report types, for validation and help.
var ReportTypes = []string{"inventory", "patches", "uptime", "alerts", "security", "executive"}

// ReportFormats lists the report formats.
var ReportFormats = []string{"csv", "html", "pdf", "xlsx"}

// mapping walks a YAML mapping's keys with a callback per key; unknown
// keys and non-mapping nodes are problems.
func mapping(file, key string, v *yaml.Node, ps *Problems, valid []string, fn func(k, v *yaml.Node) bool) bool {
	if v.Kind != yaml.MappingNode {
		*ps = append(*ps, Problem{file, v.Line, key, "must be a mapping of keys (" + strings.Join(valid, ", ") + ")"})
		return false
	}
	ok := true
	seen := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		if seen[k.Value] {
			*ps = append(*ps, Problem{file, k.Line, key + "." + k.Value, "duplicate key"})
			ok = false
			continue
		}
		seen[k.Value] = true
		if !slices.Contains(valid, k.Value) {
			*ps = append(*ps, Problem{file, k.Line, key + "." + k.Value, "unknown key (valid: " + strings.Join(valid, ", ") + ")"})
			ok = false
			continue
		}
		if !fn(k, val) {
			ok = false
		}
	}
	return ok
}

// scalar reads a single value.
func scalar(file, key string, v *yaml.Node, ps *Problems) (string, bool) {
	if v.Kind != yaml.ScalarNode {
		*ps = append(*ps, Problem{file, v.Line, key, "must be a single value"})
		return "", false
	}
	return strings.TrimSpace(v.Value), true
}

// listOrOne reads a list of names, or one name.
func listOrOne(file, key string, v *yaml.Node, ps *Problems) ([]string, bool) {
	if v.Kind == yaml.ScalarNode && strings.TrimSpace(v.Value) != "" {
		return []string{strings.TrimSpace(v.Value)}, true
	}
	return stringList(file, key, v, ps)
}

func boolValue(file, key string, v *yaml.Node, ps *Problems) (bool, bool) {
	s, ok := scalar(file, key, v, ps)
	if !ok {
		return false, false
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		*ps = append(*ps, Problem{file, v.Line, key, fmt.Sprintf("%q is not true or false", s)})
		return false, false
	}
	return b, true
}

var channelKeys = []string{"type", "host", "port", "tls", "from", "to", "auth", "ca_bundle", "url", "headers"}

func parseChannels(file, key string, v *yaml.Node, c *Config, ps *Problems) {
	if v.Tag == "!!null" {
		return
	}
	if v.Kind != yaml.MappingNode {
		*ps = append(*ps, Problem{file, v.Line, key, "must be a mapping of NAME: {type, ...}"})
		return
	}
	out := map[string]ChannelConfig{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		nameNode, body := v.Content[i], v.Content[i+1]
		name := nameNode.Value
		k := key + "." + name
		if _, dup := out[name]; dup {
			*ps = append(*ps, Problem{file, nameNode.Line, k, "duplicate channel"})
			continue
		}
		ch := ChannelConfig{Line: nameNode.Line}
		ok := mapping(file, k, body, ps, channelKeys, func(fk, fv *yaml.Node) bool {
			fkey := k + "." + fk.Value
			switch fk.Value {
			case "to":
				list, good := listOrOne(file, fkey, fv, ps)
				ch.To = list
				return good
			case "headers":
				if fv.Kind != yaml.MappingNode {
					*ps = append(*ps, Problem{file, fv.Line, fkey, "must be a mapping of Header-Name: value"})
					return false
				}
				ch.Headers = map[string]string{}
				for j := 0; j+1 < len(fv.Content); j += 2 {
					ch.Headers[fv.Content[j].Value] = fv.Content[j+1].Value
				}
				return true
			}
			s, good := scalar(file, fkey, fv, ps)
			if !good {
				return false
			}
			switch fk.Value {
			case "type":
				ch.Type = strings.ToLower(s)
			case "host":
				ch.Host = s
			case "port":
				if err := intIn(s, 1, 65535, &ch.Port); err != nil {
					*ps = append(*ps, Problem{file, fv.Line, fkey, err.Error()})
					return false
				}
			case "tls":
				ch.TLS = strings.ToLower(s)
			case "from":
				ch.From = s
			case "auth":
				ch.Auth = strings.ToLower(s)
			case "ca_bundle":
				if err := optionalPath(s, &ch.CABundle); err != nil {
					*ps = append(*ps, Problem{file, fv.Line, fkey, err.Error()})
					return false
				}
			case "url":
				ch.URL = s
			}
			return true
		})
		if ok {
			out[name] = ch
		}
	}
	c.Notifications.Channels = out
}

var routeKeys = []string{"name", "match", "channels", "repeat", "digest", "on_resolve", "on_ack", "quiet_hours"}
var matchKeys = []string{"severity", "type", "site", "group", "tag"}
var quietKeys = []string{"from", "to", "timezone", "days", "except"}

func parseRoutes(file, key string, v *yaml.Node, c *Config, ps *Problems) {
	if v.Tag == "!!null" {
		return
	}
	if v.Kind != yaml.SequenceNode {
		*ps = append(*ps, Problem{file, v.Line, key, "must be a list of {name, match, channels, ...}"})
		return
	}
	var out []RouteConfig
	for i, item := range v.Content {
		k := fmt.Sprintf("%s[%d]", key, i)
		r := RouteConfig{Line: item.Line, OnResolve: true}
		ok := mapping(file, k, item, ps, routeKeys, func(fk, fv *yaml.Node) bool {
			fkey := k + "." + fk.Value
			switch fk.Value {
			case "match":
				return mapping(file, fkey, fv, ps, matchKeys, func(mk, mv *yaml.Node) bool {
					list, good := listOrOne(file, fkey+"."+mk.Value, mv, ps)
					switch mk.Value {
					case "severity":
						r.Severity = list
					case "type":
						r.Types = list
					case "site":
						r.Sites = list
					case "group":
						r.Groups = list
					case "tag":
						r.Tags = list
					}
					return good
				})
			case "channels":
				list, good := listOrOne(file, fkey, fv, ps)
				r.Channels = list
				return good
			case "quiet_hours":
				q := &QuietHoursConfig{}
				r.Quiet = q
				return mapping(file, fkey, fv, ps, quietKeys, func(qk, qv *yaml.Node) bool {
					qkey := fkey + "." + qk.Value
					switch qk.Value {
					case "days":
						list, good := listOrOne(file, qkey, qv, ps)
						q.Days = list
						return good
					case "except":
						list, good := listOrOne(file, qkey, qv, ps)
						q.Except = list
						return good
					}
					s, good := scalar(file, qkey, qv, ps)
					switch qk.Value {
					case "from":
						q.From = s
					case "to":
						q.To = s
					case "timezone":
						q.TimeZone = s
					}
					return good
				})
			case "on_resolve", "on_ack":
				b, good := boolValue(file, fkey, fv, ps)
				if fk.Value == "on_resolve" {
					r.OnResolve = b
				} else {
					r.OnAck = b
				}
				return good
			}
			s, good := scalar(file, fkey, fv, ps)
			if !good {
				return false
			}
			switch fk.Value {
			case "name":
				r.Name = s
			case "repeat", "digest":
				var d time.Duration
				if err := longDurationIn(s, 0, 30*day, &d); err != nil {
					*ps = append(*ps, Problem{file, fv.Line, fkey, err.Error()})
					return false
				}
				if fk.Value == "repeat" {
					r.Repeat = d
				} else {
					r.Digest = d
				}
			}
			return true
		})
		if ok {
			out = append(out, r)
		}
	}
	c.Notifications.Routes = out
}

var scheduledReportKeys = []string{"name", "type", "when", "format", "route", "site", "group", "period"}

func parseScheduledReports(file, key string, v *yaml.Node, c *Config, ps *Problems) {
	if v.Tag == "!!null" {
		return
	}
	if v.Kind != yaml.SequenceNode {
		*ps = append(*ps, Problem{file, v.Line, key, "must be a list of {name, type, when, format, route}"})
		return
	}
	var out []ScheduledReport
	seen := map[string]int{}
	for i, item := range v.Content {
		k := fmt.Sprintf("%s[%d]", key, i)
		r := ScheduledReport{Line: item.Line, Format: "pdf"}
		ok := mapping(file, k, item, ps, scheduledReportKeys, func(fk, fv *yaml.Node) bool {
			s, good := scalar(file, k+"."+fk.Value, fv, ps)
			if !good {
				return false
			}
			bad := func(msg string) bool {
				*ps = append(*ps, Problem{file, fv.Line, k + "." + fk.Value, msg})
				return false
			}
			switch fk.Value {
			case "name":
				r.Name = s
			case "type":
				if !slices.Contains(ReportTypes, strings.ToLower(s)) {
					return bad(fmt.Sprintf("%q is not one of %s", s, strings.Join(ReportTypes, ", ")))
				}
				r.Type = strings.ToLower(s)
			case "when":
				sp, err := schedule.Parse(s)
				if err != nil || sp.Every > 0 {
					return bad(fmt.Sprintf("%q is not daily HH:MM, weekly DAY HH:MM or monthly DAY-OF-MONTH HH:MM", s))
				}
				r.When = sp.String()
			case "format":
				if !slices.Contains(ReportFormats, strings.ToLower(s)) {
					return bad(fmt.Sprintf("%q is not one of %s", s, strings.Join(ReportFormats, ", ")))
				}
				r.Format = strings.ToLower(s)
			case "route":
				r.Route = s
			case "site":
				r.Site = s
			case "group":
				r.Group = s
			case "period":
				if _, err := ParsePeriod(s); err != nil {
					return bad(err.Error())
				}
				r.Period = s
			}
			return true
		})
		switch {
		case !ok:
		case r.Name == "" || r.Type == "" || r.When == "" || r.Route == "":
			*ps = append(*ps, Problem{file, item.Line, k, "needs name, type, when and route (the route whose email channels get the report)"})
		case r.Site != "" && r.Group != "":
			*ps = append(*ps, Problem{file, item.Line, k, "give site or group, not both"})
		default:
			if first, dup := seen[r.Name]; dup {
				*ps = append(*ps, Problem{file, item.Line, k + ".name", fmt.Sprintf("%q is used twice (first on line %d)", r.Name, first)})
				continue
			}
			seen[r.Name] = item.Line
			out = append(out, r)
		}
	}
	c.Schedules.Reports = out
}

// Period is a report's time range rule: the previous calendar day, week
// (Monday to Monday) or month, or a fixed length back from now.
type Period struct {
	Kind string        // "day", "week", "month", or "" for Back
	Back time.Duration // with Kind "": the range is [now-Back, now)
}

// ParsePeriod reads previous-day, previous-week, previous-month or a
// duration ("30d", "12h").
func ParsePeriod(s string) (Period, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "previous-day", "yesterday":
		return Period{Kind: "day"}, nil
	case "previous-week", "last-week":
		return Period{Kind: "week"}, nil
	case "previous-month", "last-month":
		return Period{Kind: "month"}, nil
	}
	var d time.Duration
	if err := longDurationIn(s, time.Hour, 400*day, &d); err != nil {
		return Period{}, fmt.Errorf("%q is not previous-day, previous-week, previous-month or a duration (30d, 12h)", s)
	}
	return Period{Back: d}, nil
}

// Range is the period's [from, to) before now, in loc.
func (p Period) Range(now time.Time, loc *time.Location) (time.Time, time.Time) {
	lt := now.In(loc)
	today := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc)
	switch p.Kind {
	case "day":
		return today.AddDate(0, 0, -1), today
	case "week":
		monday := today.AddDate(0, 0, -((int(today.Weekday()) + 6) % 7))
		return monday.AddDate(0, 0, -7), monday
	case "month":
		first := time.Date(lt.Year(), lt.Month(), 1, 0, 0, 0, 0, loc)
		return first.AddDate(0, -1, 0), first
	}
	return now.Add(-p.Back), now
}

// DefaultPeriod is the period a scheduled report covers when it names
// none: the previous day, week or month for a daily, weekly or monthly
// schedule.
func DefaultPeriod(when string) Period {
	switch strings.Fields(when + " x")[0] {
	case "weekly":
		return Period{Kind: "week"}
	case "monthly":
		return Period{Kind: "month"}
	}
	return Period{Kind: "day"}
}

// NotifyOptions turns the section into the notifier's options; loc is the
// time zone of quiet hours that name none (schedules.timezone). Its
// errors name the key as the file does.
func (n NotificationsConfig) NotifyOptions(org string, loc *time.Location) (notify.Options, error) {
	o := notify.Options{Org: org, MaxAge: n.MaxAge, Attempts: n.Attempts, Backoff: n.Backoff, MaxBackoff: n.MaxBackoff,
		Keep: n.Keep, Channels: map[string]notify.Channel{}}
	for name, c := range n.Channels {
		o.Channels[name] = notify.Channel{Name: name, Type: notify.ChannelType(c.Type), Host: c.Host, Port: c.Port, TLS: c.TLS,
			From: c.From, To: c.To, Auth: c.Auth, CABundle: c.CABundle, URL: c.URL, Headers: c.Headers, Line: c.Line}
	}
	var errs []error
	for i, r := range n.Routes {
		nr := notify.Route{Name: r.Name, Channels: r.Channels, Repeat: r.Repeat, Digest: r.Digest, OnResolve: r.OnResolve,
			OnAck: r.OnAck, Line: r.Line,
			Match: notify.Match{Severity: r.Severity, Type: r.Types, Site: r.Sites, Group: r.Groups, Tag: r.Tags}}
		if q := r.Quiet; q != nil {
			qh, err := quietHours(*q, loc)
			if err != nil {
				errs = append(errs, &notify.SettingError{Field: fmt.Sprintf("routes[%d].quiet_hours", i), Problem: err.Error()})
				continue
			}
			nr.Quiet = qh
		}
		o.Routes = append(o.Routes, nr)
	}
	if err := errors.Join(errs...); err != nil {
		return o, err
	}
	return o.WithDefaults()
}

var weekdayByName = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

func quietHours(q QuietHoursConfig, loc *time.Location) (*notify.QuietHours, error) {
	clock := func(s string) (time.Duration, error) {
		sp, err := schedule.Parse("daily " + s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a time of day HH:MM", s)
		}
		return time.Duration(sp.Hour)*time.Hour + time.Duration(sp.Minute)*time.Minute, nil
	}
	from, err := clock(q.From)
	if err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	to, err := clock(q.To)
	if err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	if from == to {
		return nil, errors.New("from and to are the same time")
	}
	out := &notify.QuietHours{From: from, To: to, Location: loc, Except: q.Except}
	if q.TimeZone != "" && q.TimeZone != "Local" {
		l, err := time.LoadLocation(q.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("timezone %q is not a time zone (IANA names like Europe/Berlin, or Local)", q.TimeZone)
		}
		out.Location = l
	} else if q.TimeZone == "Local" {
		out.Location = time.Local
	}
	for _, d := range q.Days {
		wd, ok := weekdayByName[strings.ToLower(d)[:min(3, len(d))]]
		if !ok || len(d) < 3 {
			return nil, fmt.Errorf("days: %q is not a weekday (sun..sat)", d)
		}
		out.Days = append(out.Days, wd)
	}
	return out, nil
}

// validateNotify adds a problem, at the right line, for every part of the
// notifications section the notifier would refuse, and for scheduled
// reports whose route does not exist.
func validateNotify(file string, root *yaml.Node, c *Config, ps *Problems) {
	loc := time.Local
	if tz := c.Schedules.TimeZone; tz != "" && tz != "Local" {
		if l, err := time.LoadLocation(tz); err == nil {
			loc = l
		}
	}
	_, err := c.Notifications.NotifyOptions(c.Org, loc)
	notifications := valueOf(root, "notifications")
	for _, e := range unjoin(err) {
		var se *notify.SettingError
		line := lineOf(root, "notifications")
		msg := e.Error()
		key := "notifications"
		if errors.As(e, &se) {
			key, msg = "notifications."+se.Field, se.Problem
			switch {
			case strings.HasPrefix(se.Field, "channels."):
				name := strings.SplitN(strings.TrimPrefix(se.Field, "channels."), ".", 2)[0]
				if ch, ok := c.Notifications.Channels[name]; ok && ch.Line > 0 {
					line = ch.Line
				}
			case strings.HasPrefix(se.Field, "routes["):
				var i int
				if _, err := fmt.Sscanf(se.Field, "routes[%d]", &i); err == nil && i < len(c.Notifications.Routes) {
					line = c.Notifications.Routes[i].Line
				}
			default:
				if l := lineOf(notifications, strings.SplitN(se.Field, ".", 2)[0]); l > 0 {
					line = l
				}
			}
		}
		*ps = append(*ps, Problem{File: file, Line: line, Key: key, Msg: msg})
	}
	for i, r := range c.Schedules.Reports {
		if !slices.ContainsFunc(c.Notifications.Routes, func(x RouteConfig) bool { return x.Name == r.Route }) {
			*ps = append(*ps, Problem{File: file, Line: r.Line, Key: fmt.Sprintf("schedules.reports[%d].route", i),
				Msg: fmt.Sprintf("%q is not a route in notifications.routes", r.Route)})
		}
	}
}

// showChannels and showRoutes describe the lists for config show, the
// settings view and the reload audit line: a change shows as a change.
func showChannels(m map[string]ChannelConfig) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(m)) {
		c := m[name]
		s := name + "=" + c.Type
		switch c.Type {
		case "email":
			s += fmt.Sprintf(" %s:%d %s from %s to %s", c.Host, c.Port, c.TLS, c.From, strings.Join(c.To, ","))
		case "webhook", "pagerduty":
			if c.URL != "" {
				s += " " + c.URL
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func showRoutes(rs []RouteConfig) string {
	var parts []string
	for _, r := range rs {
		s := r.Name + " -> " + strings.Join(r.Channels, ",")
		var m []string
		for _, f := range []struct {
			k string
			v []string
		}{{"severity", r.Severity}, {"type", r.Types}, {"site", r.Sites}, {"group", r.Groups}, {"tag", r.Tags}} {
			if len(f.v) > 0 {
				m = append(m, f.k+"="+strings.Join(f.v, ","))
			}
		}
		if len(m) > 0 {
			s += " [" + strings.Join(m, " ") + "]"
		}
		if r.Repeat > 0 {
			s += " repeat " + showDays(r.Repeat)
		}
		if r.Digest > 0 {
			s += " digest " + showDays(r.Digest)
		}
		if !r.OnResolve {
			s += " no-resolve"
		}
		if r.OnAck {
			s += " on-ack"
		}
		if q := r.Quiet; q != nil {
			s += fmt.Sprintf(" quiet %s-%s %s %s except %s", q.From, q.To, q.TimeZone, strings.Join(q.Days, ","), strings.Join(q.Except, ","))
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func showScheduledReports(rs []ScheduledReport) string {
	var parts []string
	for _, r := range rs {
		s := fmt.Sprintf("%s: %s %s %s to %s", r.Name, r.Type, r.Format, r.When, r.Route)
		if r.Site != "" {
			s += " site " + r.Site
		}
		if r.Group != "" {
			s += " group " + r.Group
		}
		if r.Period != "" {
			s += " period " + r.Period
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
