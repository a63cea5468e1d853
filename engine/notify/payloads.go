package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxListed bounds the alerts a digest lists one by one; the rest are
// counted.
const maxListed = 50

// --- Microsoft Teams: an Adaptive Card through a Workflows webhook ---
//
// Office 365 connectors (and their MessageCard format) are retired; a
// Workflows flow started by "When a Teams webhook request is received"
// takes a message whose attachment is an Adaptive Card, and posts the
// card to the channel the flow names.

// AdaptiveCardContentType is the attachment content type of a card.
const AdaptiveCardContentType = "application/vnd.microsoft.card.adaptive"

// AdaptiveCardSchema is the card schema URL.
const AdaptiveCardSchema = "http://adaptivecards.io/schemas/adaptive-card.json"

// AdaptiveCardVersion is the card version rmm sends; Teams renders 1.4
// everywhere (desktop, web, mobile).
const AdaptiveCardVersion = "1.4"

// TeamsMessage is the body posted to a Teams Workflows webhook.
type TeamsMessage struct {
	Type        string            `json:"type"` // "message"
	Attachments []TeamsAttachment `json:"attachments"`
}

// TeamsAttachment carries the card.
type TeamsAttachment struct {
	ContentType string       `json:"contentType"`
	ContentURL  *string      `json:"contentUrl"` // null: the card is inline
	Content     AdaptiveCard `json:"content"`
}

// AdaptiveCard is the card itself.
type AdaptiveCard struct {
	Schema  string            `json:"$schema"`
	Type    string            `json:"type"` // "AdaptiveCard"
	Version string            `json:"version"`
	Body    []CardElement     `json:"body"`
	MSTeams map[string]string `json:"msteams,omitempty"`
}

// CardElement is one element of a card's body: a TextBlock or a FactSet.
type CardElement struct {
	Type   string     `json:"type"` // "TextBlock" or "FactSet"
	Text   string     `json:"text,omitempty"`
	Size   string     `json:"size,omitempty"`
	Weight string     `json:"weight,omitempty"`
	Color  string     `json:"color,omitempty"`
	Wrap   bool       `json:"wrap,omitempty"`
	Facts  []CardFact `json:"facts,omitempty"`
}

// CardFact is one title/value pair of a FactSet.
type CardFact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// cardColor maps a message to an Adaptive Card text color.
func cardColor(m Message) string {
	if m.Kind == KindResolved {
		return "Good"
	}
	switch m.worst() {
	case "Critical", "High":
		return "Attention"
	case "Medium":
		return "Warning"
	}
	return "Default"
}

// Teams builds the Workflows webhook body for m.
func Teams(m Message) TeamsMessage {
	body := []CardElement{{Type: "TextBlock", Text: m.Subject(), Size: "Large", Weight: "Bolder", Color: cardColor(m), Wrap: true}}
	switch {
	case m.Kind != KindDigest && len(m.Alerts) == 1:
		a := m.Alerts[0]
		body = append(body, CardElement{Type: "TextBlock", Text: a.Message, Wrap: true})
		var facts []CardFact
		for _, f := range a.facts() {
			facts = append(facts, CardFact{Title: f[0], Value: f[1]})
		}
		body = append(body, CardElement{Type: "FactSet", Facts: facts})
	default:
		if m.Text != "" {
			body = append(body, CardElement{Type: "TextBlock", Text: m.Text, Wrap: true})
		}
		for i, a := range m.Alerts {
			if i == maxListed {
				body = append(body, CardElement{Type: "TextBlock", Text: fmt.Sprintf("... and %d more", len(m.Alerts)-maxListed), Wrap: true})
				break
			}
			body = append(body, CardElement{Type: "TextBlock", Text: "- " + a.line(), Wrap: true})
		}
		if m.Attachment != nil {
			body = append(body, CardElement{Type: "TextBlock", Text: "The report was written to " + m.Attachment.Path + " on the rmm host; email channels get it attached.", Wrap: true})
		}
	}
	return TeamsMessage{Type: "message", Attachments: []TeamsAttachment{{
		ContentType: AdaptiveCardContentType,
		Content: AdaptiveCard{Schema: AdaptiveCardSchema, Type: "AdaptiveCard", Version: AdaptiveCardVersion,
			Body: body, MSTeams: map[string]string{"width": "Full"}},
	}}}
}

// --- Slack: an incoming webhook ---

// SlackMessage is the body posted to a Slack incoming webhook: text is
// the notification's fallback, blocks what the channel shows.
type SlackMessage struct {
	Text   string       `json:"text"`
	Blocks []SlackBlock `json:"blocks"`
}

// SlackBlock is one Block Kit block: header, section or context.
type SlackBlock struct {
	Type     string      `json:"type"`
	Text     *SlackText  `json:"text,omitempty"`
	Fields   []SlackText `json:"fields,omitempty"`
	Elements []SlackText `json:"elements,omitempty"`
}

// SlackText is a text object.
type SlackText struct {
	Type string `json:"type"` // "plain_text" or "mrkdwn"
	Text string `json:"text"`
}

// slackEscape escapes what Slack reads as markup, so text from a host
// cannot mention @channel or forge a link.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// clip cuts s to n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// Slack builds the incoming webhook body for m. Block Kit limits: a
// header 150 characters, a section 3000, ten fields.
func Slack(m Message) SlackMessage {
	subject := slackEscape(m.Subject())
	out := SlackMessage{Text: clip(subject, 3000)}
	out.Blocks = append(out.Blocks, SlackBlock{Type: "header", Text: &SlackText{Type: "plain_text", Text: clip(m.Subject(), 150)}})
	switch {
	case m.Kind != KindDigest && len(m.Alerts) == 1:
		a := m.Alerts[0]
		out.Blocks = append(out.Blocks, SlackBlock{Type: "section", Text: &SlackText{Type: "mrkdwn", Text: clip(slackEscape(a.Message), 3000)}})
		var fields []SlackText
		for _, f := range a.facts() {
			if len(fields) == 10 {
				break
			}
			fields = append(fields, SlackText{Type: "mrkdwn", Text: clip("*"+f[0]+"*\n"+slackEscape(f[1]), 2000)})
		}
		out.Blocks = append(out.Blocks, SlackBlock{Type: "section", Fields: fields})
	default:
		var lines []string
		if m.Text != "" {
			lines = append(lines, slackEscape(m.Text))
		}
		for i, a := range m.Alerts {
			if i == maxListed {
				lines = append(lines, fmt.Sprintf("... and %d more", len(m.Alerts)-maxListed))
				break
			}
			lines = append(lines, "- "+slackEscape(a.line()))
		}
		if m.Attachment != nil {
			lines = append(lines, slackEscape("The report was written to "+m.Attachment.Path+" on the rmm host; email channels get it attached."))
		}
		out.Blocks = append(out.Blocks, SlackBlock{Type: "section", Text: &SlackText{Type: "mrkdwn", Text: clip(strings.Join(lines, "\n"), 3000)}})
	}
	ctx := "rmm"
	if m.Route != "" {
		ctx += " | route " + m.Route
	}
	if len(m.Alerts) == 1 {
		ctx += " | alert " + strconv.FormatInt(m.Alerts[0].ID, 10)
	}
	out.Blocks = append(out.Blocks, SlackBlock{Type: "context", Elements: []SlackText{{Type: "mrkdwn", Text: slackEscape(ctx)}}})
	return out
}

// --- PagerDuty Events API v2 ---

// PagerDutyEvent is one Events API v2 event: trigger carries a payload;
// acknowledge and resolve only the routing key, action and dedup key.
type PagerDutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	EventAction string            `json:"event_action"` // trigger, acknowledge, resolve
	DedupKey    string            `json:"dedup_key"`
	Client      string            `json:"client,omitempty"`
	Payload     *PagerDutyPayload `json:"payload,omitempty"`
}

// PagerDutyPayload describes a triggered incident.
type PagerDutyPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"` // critical, error, warning, info
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// DedupKey is the PagerDuty dedup key of an alert: "rmm-alert-" and the
// alert's id, so its trigger, acknowledgement and resolution land on one
// incident.
func DedupKey(alertID int64) string { return "rmm-alert-" + strconv.FormatInt(alertID, 10) }

// pagerDutySeverity maps rmm's severities onto the four of PagerDuty.
func pagerDutySeverity(s string) string {
	switch s {
	case "Critical":
		return "critical"
	case "High":
		return "error"
	case "Medium":
		return "warning"
	}
	return "info"
}

// pagerDutyAction maps a message kind onto an event action; ok is false
// for kinds PagerDuty does not take (digests, reports).
func pagerDutyAction(k Kind) (string, bool) {
	switch k {
	case KindRaised, KindReopened, KindEscalated, KindRepeat, KindTest:
		return "trigger", true
	case KindAcknowledged:
		return "acknowledge", true
	case KindResolved:
		return "resolve", true
	}
	return "", false
}

// PagerDuty builds the events for m with routing key key: one per alert
// (raise = trigger, acknowledgement = acknowledge, resolution = resolve),
// or, for a test, a trigger of severity info and its resolve.
func PagerDuty(m Message, key string) ([]PagerDutyEvent, error) {
	action, ok := pagerDutyAction(m.Kind)
	if !ok {
		return nil, fmt.Errorf("pagerduty takes alert changes and tests, not %s messages", m.Kind)
	}
	if m.Kind == KindTest {
		dk := "rmm-test-" + strconv.FormatInt(m.At.UnixMilli(), 10)
		return []PagerDutyEvent{
			{RoutingKey: key, EventAction: "trigger", DedupKey: dk, Client: "rmm", Payload: &PagerDutyPayload{
				Summary: clip(m.Subject(), 1024), Source: "rmm", Severity: "info", Timestamp: m.At.UTC().Format(time.RFC3339), Class: "test"}},
			{RoutingKey: key, EventAction: "resolve", DedupKey: dk},
		}, nil
	}
	var out []PagerDutyEvent
	for _, a := range m.Alerts {
		ev := PagerDutyEvent{RoutingKey: key, EventAction: action, DedupKey: DedupKey(a.ID)}
		if action == "trigger" {
			ev.Client = "rmm"
			src := a.Hostname
			if src == "" {
				src = "rmm"
			}
			one := Message{Kind: a.Event, Org: m.Org, Alerts: []Alert{a}}
			details := map[string]any{"message": a.Message, "state": a.State, "count": a.Count,
				"first_seen": a.FirstSeen.UTC().Format(time.RFC3339), "alert_id": a.ID}
			if m.Route != "" {
				details["route"] = m.Route
			}
			if len(a.Groups) > 0 {
				details["groups"] = strings.Join(a.Groups, ", ")
			}
			ev.Payload = &PagerDutyPayload{Summary: clip(strings.TrimPrefix(one.Subject(), "["+orgOr(m.Org)+"] "), 1024),
				Source: src, Severity: pagerDutySeverity(a.Severity), Timestamp: a.At.UTC().Format(time.RFC3339),
				Component: a.Instance, Group: a.Site, Class: a.Type, CustomDetails: details}
		}
		out = append(out, ev)
	}
	return out, nil
}

func orgOr(org string) string {
	if org == "" {
		return "rmm"
	}
	return org
}

// --- the generic webhook ---

// Webhook headers rmm sets.
const (
	HeaderSignature = "X-Rmm-Signature" // "sha256=" + hex HMAC-SHA256(key, timestamp + "." + body)
	HeaderTimestamp = "X-Rmm-Timestamp" // unix seconds when the request was signed
	HeaderEvent     = "X-Rmm-Event"     // the message kind
	HeaderDelivery  = "X-Rmm-Delivery"  // the outbox id: the same for every retry of one message
)

// WebhookBody is what a generic webhook receives, as JSON.
type WebhookBody struct {
	Version  int       `json:"version"` // 1
	Kind     Kind      `json:"kind"`
	Subject  string    `json:"subject"`
	Org      string    `json:"org"`
	Route    string    `json:"route,omitempty"`
	At       time.Time `json:"at"`
	Delivery int64     `json:"delivery"`
	Alerts   []Alert   `json:"alerts"`
	Text     string    `json:"text,omitempty"`
	Report   string    `json:"report,omitempty"` // a report's file on the rmm host
}

// Webhook builds the generic webhook body for m.
func Webhook(m Message) WebhookBody {
	b := WebhookBody{Version: 1, Kind: m.Kind, Subject: m.Subject(), Org: orgOr(m.Org), Route: m.Route, At: m.At.UTC(),
		Delivery: m.Delivery, Alerts: m.Alerts, Text: m.Text}
	if b.Alerts == nil {
		b.Alerts = []Alert{}
	}
	if m.Attachment != nil {
		b.Report = m.Attachment.Path
	}
	return b
}

// Sign is the X-Rmm-Signature value of body signed at ts with key:
// "sha256=" and the hex HMAC-SHA256 of the decimal unix seconds, a dot,
// and the body. A receiver recomputes it with its copy of the key,
// compares in constant time, and refuses an old timestamp (a replay).
func Sign(key []byte, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a signature made by Sign.
func Verify(key []byte, timestamp string, body []byte, signature string) bool {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	want := Sign(key, time.Unix(sec, 0), body)
	return hmac.Equal([]byte(want), []byte(signature))
}
