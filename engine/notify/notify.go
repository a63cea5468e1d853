// Package notify owns what rmm sends out about alerts: the channels
// (email over SMTP, Microsoft Teams through a Workflows webhook, Slack
// incoming webhooks, PagerDuty Events API v2 and a generic JSON webhook),
// the routes that decide which alert changes go to which channels, the
// payload each channel receives, and the sending itself.
//
// It knows nothing of the engine, the store or the config file: the
// engine's notifier (engine/notifier.go) reads alert changes from the
// store, asks Plan where each one goes, keeps the durable outbox, and
// calls a Sender to deliver. Secrets (SMTP passwords, webhook URLs with
// their tokens, PagerDuty routing keys, HMAC keys) reach this package only
// through the Secrets interface at send time; they are never part of
// Options, a Message or an error.
package notify

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Kind is what a message says happened.
type Kind string

// Message kinds. The first five are alert lifecycle events (what the
// store records for every alert change); the rest are made by the
// notifier.
const (
	KindRaised       Kind = "raised"       // a new alert
	KindReopened     Kind = "reopened"     // a resolved alert came back within the dedup window
	KindEscalated    Kind = "escalated"    // an unresolved alert became more urgent
	KindAcknowledged Kind = "acknowledged" // someone is on it
	KindResolved     Kind = "resolved"     // its condition cleared, or someone resolved it
	KindRepeat       Kind = "repeat"       // still Active after the route's repeat interval
	KindDigest       Kind = "digest"       // several changes of one route, in one message
	KindTest         Kind = "test"         // rmm notify test
	KindReport       Kind = "report"       // a report mailed through a route
)

// EventKinds are the alert lifecycle events, in the order they are listed.
func EventKinds() []Kind {
	return []Kind{KindRaised, KindReopened, KindEscalated, KindAcknowledged, KindResolved}
}

// Raises reports whether k opens (or re-opens) an incident: the kinds a
// maintenance window silences.
func (k Kind) Raises() bool {
	return k == KindRaised || k == KindReopened || k == KindEscalated || k == KindRepeat
}

// ParseKind reads a kind name.
func ParseKind(s string) (Kind, error) {
	k := Kind(strings.ToLower(strings.TrimSpace(s)))
	switch k {
	case KindRaised, KindReopened, KindEscalated, KindAcknowledged, KindResolved, KindRepeat, KindDigest, KindTest, KindReport:
		return k, nil
	}
	return "", fmt.Errorf("message kind %q is unknown", s)
}

// verb is how a kind reads in a title.
func (k Kind) verb() string {
	switch k {
	case KindRaised:
		return "RAISED"
	case KindReopened:
		return "REOPENED"
	case KindEscalated:
		return "ESCALATED"
	case KindAcknowledged:
		return "ACKNOWLEDGED"
	case KindResolved:
		return "RESOLVED"
	case KindRepeat:
		return "STILL ACTIVE"
	case KindDigest:
		return "DIGEST"
	case KindTest:
		return "TEST"
	case KindReport:
		return "REPORT"
	}
	return strings.ToUpper(string(k))
}

// Severities, most urgent first (the engine's words).
var severities = []string{"Critical", "High", "Medium", "Low", "Info"}

// SeverityRank orders severities: 0 is the most urgent; unknown last.
func SeverityRank(s string) int {
	for i, v := range severities {
		if strings.EqualFold(v, s) {
			return i
		}
	}
	return len(severities)
}

// canonicalSeverity spells a severity the engine's way, or "".
func canonicalSeverity(s string) string {
	for _, v := range severities {
		if strings.EqualFold(v, strings.TrimSpace(s)) {
			return v
		}
	}
	return ""
}

// Alert is what a message tells about one alert: the alert as it was
// when the message was made, and the device's site, groups and tags
// (what routes match on). Event is the change this entry reports (in a
// digest, each entry has its own).
type Alert struct {
	ID           int64     `json:"id"`
	Event        Kind      `json:"event"`
	At           time.Time `json:"at"` // when the change happened
	Hostname     string    `json:"hostname"`
	Site         string    `json:"site"`
	Groups       []string  `json:"groups,omitempty"`
	Tags         []string  `json:"tags,omitempty"`
	Type         string    `json:"type"`
	Instance     string    `json:"instance,omitempty"`
	Severity     string    `json:"severity"`
	State        string    `json:"state"`
	Message      string    `json:"message"`
	Count        int       `json:"count"`
	FirstSeen    time.Time `json:"first_seen"`
	LastSeen     time.Time `json:"last_seen"`
	AckedBy      string    `json:"acked_by,omitempty"`
	AckNote      string    `json:"ack_note,omitempty"`
	ResolvedBy   string    `json:"resolved_by,omitempty"`
	ResolveNote  string    `json:"resolve_note,omitempty"`
	AutoResolved bool      `json:"auto_resolved,omitempty"`
}

// what names the alert's condition: "disk_used on WS-042 (C:)".
func (a Alert) what() string {
	s := a.Type
	if a.Hostname != "" {
		s += " on " + a.Hostname
	}
	if a.Instance != "" {
		s += " (" + a.Instance + ")"
	}
	return s
}

// line is one line about the alert, for digests and text bodies.
func (a Alert) line() string {
	s := fmt.Sprintf("%s %s %s: %s", a.Event.verb(), a.Severity, a.what(), a.Message)
	switch a.Event {
	case KindAcknowledged:
		s += " (by " + a.AckedBy + ")"
	case KindResolved:
		if a.AutoResolved {
			s += " (condition cleared)"
		} else if a.ResolvedBy != "" {
			s += " (by " + a.ResolvedBy + ")"
		}
	}
	return s
}

// Attachment is a file a message carries (a report mailed through a
// route): email channels attach it; the others say where it is.
type Attachment struct {
	Path        string `json:"path"`         // the file, read at send time
	Name        string `json:"name"`         // its name in the mail
	ContentType string `json:"content_type"` // e.g. application/pdf
}

// Message is one thing to send on one channel: an alert change, a digest
// of several, a test, or a report. It is what the outbox stores (as
// JSON); each channel renders it its own way at send time. It holds no
// secret.
type Message struct {
	Kind   Kind      `json:"kind"`
	Route  string    `json:"route,omitempty"`
	Org    string    `json:"org,omitempty"`
	At     time.Time `json:"at"`
	Alerts []Alert   `json:"alerts,omitempty"` // one for an alert change; several for a digest
	// Title and Text are set for tests and reports, which have no alert.
	Title      string      `json:"title,omitempty"`
	Text       string      `json:"text,omitempty"`
	Attachment *Attachment `json:"attachment,omitempty"`
	// Delivery is the outbox row's id, set when sending: webhooks carry
	// it so a receiver can drop a retried delivery it already has.
	Delivery int64 `json:"-"`
}

// Subject is the message's one-line title: an email subject, a card's
// heading.
func (m Message) Subject() string {
	org := m.Org
	if org == "" {
		org = "rmm"
	}
	switch {
	case m.Title != "":
		return "[" + org + "] " + m.Title
	case m.Kind == KindDigest:
		return "[" + org + "] " + m.digestTitle()
	case len(m.Alerts) > 0:
		a := m.Alerts[0]
		s := "[" + org + "] " + m.Kind.verb() + " " + a.Severity + " " + a.what()
		if m.Kind == KindAcknowledged && a.AckedBy != "" {
			s += " by " + a.AckedBy
		}
		return s
	}
	return "[" + org + "] " + m.Kind.verb()
}

// digestTitle counts a digest's entries by event: "5 alert changes (3
// raised, 2 resolved) on route ops".
func (m Message) digestTitle() string {
	counts := map[Kind]int{}
	for _, a := range m.Alerts {
		counts[a.Event]++
	}
	var parts []string
	for _, k := range append(EventKinds(), KindRepeat) {
		if n := counts[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	s := fmt.Sprintf("%d alert changes (%s)", len(m.Alerts), strings.Join(parts, ", "))
	if m.Route != "" {
		s += " on route " + m.Route
	}
	return s
}

// Lines are the message's body as plain text lines.
func (m Message) Lines() []string {
	var out []string
	if m.Text != "" {
		out = append(out, strings.Split(m.Text, "\n")...)
	}
	if m.Kind != KindDigest && len(m.Alerts) == 1 {
		a := m.Alerts[0]
		out = append(out, a.Message, "")
		for _, f := range a.facts() {
			out = append(out, f[0]+": "+f[1])
		}
		return out
	}
	for _, a := range m.Alerts {
		out = append(out, "- "+a.line())
	}
	if m.Attachment != nil {
		out = append(out, "Attached: "+m.Attachment.Name)
	}
	return out
}

// facts are the label/value pairs cards and mails show for one alert.
func (a Alert) facts() [][2]string {
	f := [][2]string{
		{"Device", dash(a.Hostname)},
		{"Site", dash(a.Site)},
		{"Type", a.Type + instanceSuffix(a.Instance)},
		{"Severity", a.Severity},
		{"State", a.State},
		{"Raised", stamp(a.FirstSeen)},
		{"Last seen", stamp(a.LastSeen)},
		{"Detections", fmt.Sprint(a.Count)},
		{"Alert id", fmt.Sprint(a.ID)},
	}
	if len(a.Groups) > 0 {
		f = append(f, [2]string{"Groups", strings.Join(a.Groups, ", ")})
	}
	if a.AckedBy != "" {
		f = append(f, [2]string{"Acknowledged by", a.AckedBy + noteSuffix(a.AckNote)})
	}
	if a.Event == KindResolved {
		by := a.ResolvedBy
		if a.AutoResolved {
			by = "rmm (condition cleared)"
		}
		f = append(f, [2]string{"Resolved by", by + noteSuffix(a.ResolveNote)})
	}
	return f
}

func instanceSuffix(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func noteSuffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// stamp formats a time for people: UTC, to the minute.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// worst is the most urgent severity among the message's alerts ("" for
// none).
func (m Message) worst() string {
	best := ""
	for _, a := range m.Alerts {
		if best == "" || SeverityRank(a.Severity) < SeverityRank(best) {
			best = a.Severity
		}
	}
	return best
}

// sortedUnique returns the distinct values of ss, sorted.
func sortedUnique(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}
