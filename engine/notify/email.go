package notify

import (
	"bytes"
	"fmt"
	"html/template"
	"net/mail"
	"strconv"
	"strings"
)

// EmailBody is a message as a mail: the subject, the plain text and the
// HTML alternative, and the threading headers.
type EmailBody struct {
	Subject string
	Text    string
	HTML    string
	// MessageID is the mail's own id (without angle brackets); InReplyTo,
	// when set, is the id of the first mail about the same alert on the
	// same route, so mail clients thread a raise, its reminders and its
	// resolution together.
	MessageID string
	InReplyTo string
}

// threadID is the id of the first mail about an alert on a route.
func threadID(alertID int64, route, domain string) string {
	return fmt.Sprintf("rmm.alert-%d.%s@%s", alertID, route, domain)
}

// mailDomain is the domain of the sender address, for message ids.
func mailDomain(from string) string {
	if a, err := mail.ParseAddress(from); err == nil {
		if i := strings.LastIndexByte(a.Address, '@'); i >= 0 && i+1 < len(a.Address) {
			return a.Address[i+1:]
		}
	}
	return "rmm.invalid"
}

var emailHTML = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: Segoe UI, Helvetica, Arial, sans-serif; font-size: 14px; color: #222;">
<h2 style="color: {{.Color}}; margin: 0 0 8px 0;">{{.Subject}}</h2>
{{if .Text}}<p>{{.Text}}</p>{{end}}
{{with .One}}<p>{{.Message}}</p>
<table style="border-collapse: collapse;">
{{range .Facts}}<tr><td style="padding: 2px 12px 2px 0; color: #666;">{{index . 0}}</td><td style="padding: 2px 0;">{{index . 1}}</td></tr>
{{end}}</table>{{end}}
{{if .Lines}}<table style="border-collapse: collapse;">
<tr><th style="text-align: left; padding: 2px 8px;">Change</th><th style="text-align: left; padding: 2px 8px;">Severity</th><th style="text-align: left; padding: 2px 8px;">Device</th><th style="text-align: left; padding: 2px 8px;">Type</th><th style="text-align: left; padding: 2px 8px;">Message</th></tr>
{{range .Lines}}<tr><td style="padding: 2px 8px;">{{.Event}}</td><td style="padding: 2px 8px;">{{.Severity}}</td><td style="padding: 2px 8px;">{{.Hostname}}</td><td style="padding: 2px 8px;">{{.Type}}{{if .Instance}} ({{.Instance}}){{end}}</td><td style="padding: 2px 8px;">{{.Message}}</td></tr>
{{end}}</table>{{if .More}}<p>... and {{.More}} more</p>{{end}}{{end}}
{{with .Attachment}}<p>Attached: {{.Name}}</p>{{end}}
<p style="color: #888; font-size: 12px;">Sent by {{.Org}}{{if .Route}} through route {{.Route}}{{end}}.</p>
</body></html>
`))

// htmlColor is the heading color of a message.
func htmlColor(m Message) string {
	switch cardColor(m) {
	case "Good":
		return "#2e7d32"
	case "Attention":
		return "#c62828"
	case "Warning":
		return "#ef6c00"
	}
	return "#222"
}

// Email builds the mail for m sent from from (for the message ids).
func Email(m Message, from string) (EmailBody, error) {
	domain := mailDomain(from)
	b := EmailBody{Subject: m.Subject()}
	var text strings.Builder
	for _, l := range m.Lines() {
		text.WriteString(l)
		text.WriteString("\n")
	}
	text.WriteString("\n-- \nSent by " + orgOr(m.Org))
	if m.Route != "" {
		text.WriteString(" through route " + m.Route)
	}
	text.WriteString(".\n")
	b.Text = text.String()

	data := struct {
		Subject, Color, Text, Org, Route string
		One                              *struct {
			Message string
			Facts   [][2]string
		}
		Lines      []Alert
		More       int
		Attachment *Attachment
	}{Subject: b.Subject, Color: htmlColor(m), Text: m.Text, Org: orgOr(m.Org), Route: m.Route, Attachment: m.Attachment}
	if m.Kind != KindDigest && len(m.Alerts) == 1 {
		a := m.Alerts[0]
		data.One = &struct {
			Message string
			Facts   [][2]string
		}{a.Message, a.facts()}
	} else {
		data.Lines = m.Alerts
		if len(data.Lines) > maxListed {
			data.More = len(data.Lines) - maxListed
			data.Lines = data.Lines[:maxListed]
		}
	}
	var h bytes.Buffer
	if err := emailHTML.Execute(&h, data); err != nil {
		return b, fmt.Errorf("render mail: %w", err)
	}
	b.HTML = h.String()

	switch {
	case len(m.Alerts) == 1 && m.Kind != KindDigest:
		root := threadID(m.Alerts[0].ID, routeOr(m.Route), domain)
		if m.Kind == KindRaised {
			b.MessageID = root
		} else {
			b.InReplyTo = root
			b.MessageID = fmt.Sprintf("rmm.alert-%d.%s.%s.%d@%s", m.Alerts[0].ID, routeOr(m.Route), m.Kind, m.Delivery, domain)
		}
	default:
		b.MessageID = "rmm." + string(m.Kind) + "." + strconv.FormatInt(m.Delivery, 10) + "." + strconv.FormatInt(m.At.UnixMilli(), 10) + "@" + domain
	}
	return b, nil
}

func routeOr(r string) string {
	if r == "" {
		return "direct"
	}
	return r
}
