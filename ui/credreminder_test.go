package ui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

// credClient is a console client whose engine found stale credentials.
type credClient struct {
	*hubClient
	names []string
}

func (c credClient) StaleCredentials() []string { return c.names }

// tickOnce delivers a tick, then the credential reads it starts (the
// other commands, the next tick included, are left alone).
func tickOnce(t *testing.T, m Model) Model {
	t.Helper()
	nm, cmd := m.Update(tickMsg(t0))
	m = nm.(Model)
	var msgs []tea.Msg
	for _, c := range cmd().(tea.BatchMsg) {
		if c == nil {
			continue
		}
		done := make(chan tea.Msg, 1)
		go func() { done <- c() }()
		select {
		case msg := <-done:
			if sm, ok := msg.(staleCredsMsg); ok {
				msgs = append(msgs, sm)
			}
		case <-time.After(100 * time.Millisecond): // the next tick: it waits a second
		}
	}
	return update(m, msgs...)
}

func TestTheStatusLineRemindsOfStaleCredentials(t *testing.T) {
	c := credClient{hubClient: newHubClient(fleet(20)), names: []string{"default (120 days)"}}
	m := tickOnce(t, loadedWith(t, c, Options{Theme: "ascii"}, 120, 30))
	lines := strings.Split(screenText(m), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "rotate credential default (120 days)") {
		t.Fatalf("status line %q lacks the rotation reminder", last)
	}

	c.names = []string{"a (95 days)", "b (200 days)"}
	m = tickOnce(t, loadedWith(t, c, Options{Theme: "ascii"}, 160, 30))
	if last := lastLine(screenText(m)); !strings.Contains(last, "rotate 2 credentials: a (95 days), b (200 days)") {
		t.Fatalf("status line %q", last)
	}

	c.names = nil
	m = tickOnce(t, loadedWith(t, c, Options{Theme: "ascii"}, 120, 30))
	if last := lastLine(screenText(m)); strings.Contains(last, "rotate") {
		t.Fatalf("reminder without stale credentials: %q", last)
	}
}

func lastLine(s string) string {
	lines := strings.Split(s, "\n")
	return lines[len(lines)-1]
}
