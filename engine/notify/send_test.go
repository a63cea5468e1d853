package notify

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/notify/notifytest"
)

var update = flag.Bool("update", false, "rewrite the golden payloads in testdata/")

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// diskAlert is the alert the payload tests send.
func diskAlert(event Kind) Alert {
	a := Alert{ID: 42, Event: event, At: t0, Hostname: "WS-042", Site: "hq", Groups: []string{"workstations"},
		Tags: []string{"prod"}, Type: "disk_used", Instance: "C:", Severity: "Critical", State: "Active",
		Message: "disk C: 96% used (4.0 GB free of 100.0 GB), at or above critical 90%", Count: 3,
		FirstSeen: t0.Add(-10 * time.Minute), LastSeen: t0}
	switch event {
	case KindAcknowledged:
		a.State, a.AckedBy, a.AckNote = "Acknowledged", "alice", "on it"
	case KindResolved:
		a.State, a.ResolvedBy, a.AutoResolved = "Resolved", "rmm", true
	}
	return a
}

func alertMessage(event Kind) Message {
	return Message{Kind: event, Route: "ops", Org: "Contoso IT", At: t0, Alerts: []Alert{diskAlert(event)}, Delivery: 7}
}

// golden compares got (JSON) with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	got = indentJSON(t, got)
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if string(got) != string(want) {
		t.Fatalf("payload differs from %s:\n got %s\nwant %s", path, got, want)
	}
}

func sender(secrets fixedSecrets) *Sender {
	return &Sender{Secrets: secrets, UserAgent: "rmm/test", Timeout: 5 * time.Second, Now: func() time.Time { return t0 }}
}

// readMail parses a received mail: its headers, and the text and HTML
// parts of its multipart/alternative body.
func readMail(t *testing.T, data []byte) (mail.Header, string, string) {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q %v, want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	var text, html string
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			text = string(b)
		case "text/html":
			html = string(b)
		}
	}
	return m.Header, text, html
}

func TestEmailGoesOverStartTLSWithAuthAndThreadsTheResolution(t *testing.T) {
	cfg, ca := notifytest.Cert(t)
	box := &notifytest.Mailbox{}
	port := notifytest.SMTPServer(t, box, cfg, false, "rmm@example.com", "s3cret-pass")
	ch := Channel{Name: "ops-mail", Type: TypeEmail, Host: "127.0.0.1", Port: port, TLS: TLSStartTLS, CABundle: ca,
		From: "rmm@example.com", To: []string{"ops@example.com", "oncall@example.com"}}
	s := sender(fixedSecrets{"notify:ops-mail": {"rmm@example.com", "s3cret-pass"}})
	ctx := context.Background()
	if err := s.Send(ctx, ch, alertMessage(KindRaised)); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, ch, alertMessage(KindResolved)); err != nil {
		t.Fatal(err)
	}
	mails := box.All()
	if len(mails) != 2 {
		t.Fatalf("%d mails, want 2", len(mails))
	}
	raise, resolve := mails[0], mails[1]
	if !raise.TLS || raise.User != "rmm@example.com" || raise.From != "rmm@example.com" ||
		strings.Join(raise.To, ",") != "ops@example.com,oncall@example.com" {
		t.Fatalf("envelope %+v", raise)
	}
	h, text, html := readMail(t, raise.Data)
	if got := h.Get("Subject"); got != "[Contoso IT] RAISED Critical disk_used on WS-042 (C:)" {
		t.Fatalf("subject %q", got)
	}
	if got := h.Get("Message-Id"); got != "<rmm.alert-42.ops@example.com>" {
		t.Fatalf("message id %q", got)
	}
	for _, want := range []string{"disk C: 96% used", "Device: WS-042", "Site: hq", "Alert id: 42", "through route ops"} {
		if !strings.Contains(text, want) {
			t.Errorf("text part lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(html, "<td style=\"padding: 2px 0;\">WS-042</td>") || !strings.Contains(html, "#c62828") {
		t.Errorf("html part:\n%s", html)
	}
	h2, text2, _ := readMail(t, resolve.Data)
	if got := h2.Get("In-Reply-To"); got != "<rmm.alert-42.ops@example.com>" || h2.Get("References") != got {
		t.Fatalf("resolution In-Reply-To %q References %q", got, h2.Get("References"))
	}
	if !strings.HasPrefix(h2.Get("Subject"), "[Contoso IT] RESOLVED") || !strings.Contains(text2, "Resolved by: rmm (condition cleared)") {
		t.Fatalf("resolution %q\n%s", h2.Get("Subject"), text2)
	}
}

func TestEmailOverImplicitTLS(t *testing.T) {
	cfg, ca := notifytest.Cert(t)
	box := &notifytest.Mailbox{}
	port := notifytest.SMTPServer(t, box, cfg, true, "u", "p4ssword")
	ch := Channel{Name: "m", Type: TypeEmail, Host: "127.0.0.1", Port: port, TLS: TLSImplicit, CABundle: ca,
		From: "rmm@example.com", To: []string{"ops@example.com"}}
	if err := sender(fixedSecrets{"notify:m": {"u", "p4ssword"}}).Send(context.Background(), ch, alertMessage(KindRaised)); err != nil {
		t.Fatal(err)
	}
	if ms := box.All(); len(ms) != 1 || !ms[0].TLS || ms[0].User != "u" {
		t.Fatalf("mails %+v", ms)
	}
}

func TestEmailIsNotSentWhereSTARTTLSIsMissingOrTheCertIsNotTrusted(t *testing.T) {
	cfg, ca := notifytest.Cert(t)
	tests := []struct {
		name   string
		server *tls.Config
		ca     string
		want   string
	}{
		{"a server that offers no STARTTLS", nil, ca, "STARTTLS"},
		{"a certificate no configured CA signed", cfg, "", "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			box := &notifytest.Mailbox{}
			port := notifytest.SMTPServer(t, box, tt.server, false, "", "")
			ch := Channel{Name: "m", Type: TypeEmail, Host: "127.0.0.1", Port: port, CABundle: tt.ca,
				From: "rmm@example.com", To: []string{"ops@example.com"}}
			err := sender(fixedSecrets{}).Send(context.Background(), ch, alertMessage(KindRaised))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "channel m: ") {
				t.Fatalf("error %v, want one about %s", err, tt.want)
			}
			if n := len(box.All()); n != 0 {
				t.Fatalf("%d mails went out", n)
			}
		})
	}
}

func TestAWrongSMTPPasswordFailsWithoutShowingIt(t *testing.T) {
	cfg, ca := notifytest.Cert(t)
	box := &notifytest.Mailbox{}
	port := notifytest.SMTPServer(t, box, cfg, false, "u", "right-password")
	ch := Channel{Name: "m", Type: TypeEmail, Host: "127.0.0.1", Port: port, CABundle: ca,
		From: "rmm@example.com", To: []string{"ops@example.com"}}
	err := sender(fixedSecrets{"notify:m": {"u", "Wr0ng-Pa55word"}}).Send(context.Background(), ch, alertMessage(KindRaised))
	if err == nil || strings.Contains(err.Error(), "Wr0ng-Pa55word") || IsPermanent(err) {
		t.Fatalf("error %v: want a retryable failure that does not quote the password", err)
	}
}

func TestTeamsGetsAnAdaptiveCardThroughItsWorkflowsURL(t *testing.T) {
	rcv := newReceiver(t, func(int) int { return http.StatusAccepted })
	url := rcv.URL + "/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=SIGNATURE-TOKEN"
	ch := Channel{Name: "teams-ops", Type: TypeTeams}
	if err := sender(fixedSecrets{"notify:teams-ops": {"teams", url}}).Send(context.Background(), ch, alertMessage(KindRaised)); err != nil {
		t.Fatal(err)
	}
	got := rcv.got()
	if len(got) != 1 || !strings.HasSuffix(got[0].Path, "sig=SIGNATURE-TOKEN") || got[0].Header.Get("Content-Type") != "application/json" {
		t.Fatalf("requests %+v", got)
	}
	var card struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string          `json:"contentType"`
			ContentURL  json.RawMessage `json:"contentUrl"`
			Content     struct {
				Schema  string `json:"$schema"`
				Type    string `json:"type"`
				Version string `json:"version"`
				Body    []struct {
					Type  string `json:"type"`
					Text  string `json:"text"`
					Facts []struct{ Title, Value string }
				} `json:"body"`
			} `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(got[0].Body, &card); err != nil {
		t.Fatal(err)
	}
	a := card.Attachments[0]
	if card.Type != "message" || len(card.Attachments) != 1 || a.ContentType != "application/vnd.microsoft.card.adaptive" ||
		string(a.ContentURL) != "null" || a.Content.Schema != "http://adaptivecards.io/schemas/adaptive-card.json" ||
		a.Content.Type != "AdaptiveCard" || a.Content.Version != "1.4" || a.Content.Body[0].Type != "TextBlock" ||
		a.Content.Body[2].Type != "FactSet" || a.Content.Body[2].Facts[0].Value != "WS-042" {
		t.Fatalf("card %+v", card)
	}
	if strings.Contains(string(got[0].Body), "MessageCard") {
		t.Fatal("the retired MessageCard format was sent")
	}
	golden(t, "teams_raised.json", got[0].Body)
}

func TestSlackGetsBlocksWithHostTextEscaped(t *testing.T) {
	rcv := newReceiver(t, nil)
	ch := Channel{Name: "slack-ops", Type: TypeSlack}
	m := alertMessage(KindRaised)
	m.Alerts[0].Message = "<!channel> look at <https://evil.example|this> & that"
	if err := sender(fixedSecrets{"notify:slack-ops": {"slack", rcv.URL + "/services/T0/B0/TOKEN"}}).Send(context.Background(), ch, m); err != nil {
		t.Fatal(err)
	}
	got := rcv.got()
	if len(got) != 1 || got[0].Path != "/services/T0/B0/TOKEN" {
		t.Fatalf("requests %+v", got)
	}
	var sm SlackMessage
	if err := json.Unmarshal(got[0].Body, &sm); err != nil {
		t.Fatal(err)
	}
	if txt := sm.Blocks[1].Text.Text; txt != `&lt;!channel&gt; look at &lt;https://evil.example|this&gt; &amp; that` {
		t.Fatalf("host text not escaped: %q", txt)
	}
	if sm.Blocks[0].Type != "header" || sm.Blocks[2].Type != "section" || len(sm.Blocks[2].Fields) != 10 || sm.Blocks[3].Type != "context" {
		t.Fatalf("blocks %+v", sm.Blocks)
	}
	golden(t, "slack_raised.json", got[0].Body)
}

func TestPagerDutyFollowsTheAlertLifecycleOnOneDedupKey(t *testing.T) {
	rcv := newReceiver(t, func(int) int { return http.StatusAccepted })
	ch := Channel{Name: "pd", Type: TypePagerDuty, URL: rcv.URL + "/v2/enqueue"}
	s := sender(fixedSecrets{"notify:pd": {"pagerduty", "R0UTINGKEY0123456789"}})
	for _, k := range []Kind{KindRaised, KindAcknowledged, KindResolved} {
		if err := s.Send(context.Background(), ch, alertMessage(k)); err != nil {
			t.Fatal(err)
		}
	}
	got := rcv.got()
	if len(got) != 3 {
		t.Fatalf("%d events, want 3", len(got))
	}
	var actions []string
	for _, r := range got {
		var ev map[string]any
		if err := json.Unmarshal(r.Body, &ev); err != nil {
			t.Fatal(err)
		}
		if ev["dedup_key"] != "rmm-alert-42" || ev["routing_key"] != "R0UTINGKEY0123456789" || r.Path != "/v2/enqueue" {
			t.Fatalf("event %s", r.Body)
		}
		actions = append(actions, ev["event_action"].(string))
	}
	if strings.Join(actions, ",") != "trigger,acknowledge,resolve" {
		t.Fatalf("actions %v", actions)
	}
	golden(t, "pagerduty_trigger.json", got[0].Body)
	golden(t, "pagerduty_resolve.json", got[2].Body)
}

func TestReceiverAnswersDecideBetweenRetryAndGivingUp(t *testing.T) {
	tests := []struct {
		status    int
		permanent bool
	}{
		{http.StatusTooManyRequests, false},
		{http.StatusServiceUnavailable, false},
		{http.StatusRequestTimeout, false},
		{http.StatusBadRequest, true},
		{http.StatusNotFound, true},
		{http.StatusFound, true},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			rcv := newReceiver(t, func(int) int { return tt.status })
			ch := Channel{Name: "pd", Type: TypePagerDuty, URL: rcv.URL}
			err := sender(fixedSecrets{"notify:pd": {"pagerduty", "KEY"}}).Send(context.Background(), ch, alertMessage(KindRaised))
			if err == nil || IsPermanent(err) != tt.permanent {
				t.Fatalf("error %v, permanent %v; want permanent %v", err, IsPermanent(err), tt.permanent)
			}
		})
	}
}

func TestTheWebhookIsSignedWithHMACAndCarriesItsHeaders(t *testing.T) {
	rcv := newReceiver(t, nil)
	ch := Channel{Name: "hook", Type: TypeWebhook, URL: rcv.URL + "/rmm", Headers: map[string]string{"X-Source": "rmm-hq"}}
	key := "hmac-key-0123456789"
	if err := sender(fixedSecrets{"notify:hook": {"webhook", key}}).Send(context.Background(), ch, alertMessage(KindRaised)); err != nil {
		t.Fatal(err)
	}
	got := rcv.got()
	if len(got) != 1 {
		t.Fatalf("%d requests", len(got))
	}
	r := got[0]
	h := r.Header
	if h.Get("X-Source") != "rmm-hq" || h.Get("X-Rmm-Event") != "raised" || h.Get("X-Rmm-Delivery") != "7" ||
		h.Get("X-Rmm-Timestamp") != strconv.FormatInt(t0.Unix(), 10) || h.Get("User-Agent") != "rmm/test" {
		t.Fatalf("headers %v", h)
	}
	if !Verify([]byte(key), h.Get("X-Rmm-Timestamp"), r.Body, h.Get("X-Rmm-Signature")) {
		t.Fatalf("signature %q does not verify", h.Get("X-Rmm-Signature"))
	}
	if Verify([]byte("another-key"), h.Get("X-Rmm-Timestamp"), r.Body, h.Get("X-Rmm-Signature")) ||
		Verify([]byte(key), h.Get("X-Rmm-Timestamp"), append([]byte(" "), r.Body...), h.Get("X-Rmm-Signature")) {
		t.Fatal("a signature verified with another key or body")
	}
	golden(t, "webhook_raised.json", r.Body)

	// Without a stored key the body goes unsigned.
	if err := sender(fixedSecrets{}).Send(context.Background(), ch, alertMessage(KindResolved)); err != nil {
		t.Fatal(err)
	}
	if got := rcv.got(); got[1].Header.Get("X-Rmm-Signature") != "" {
		t.Fatal("signed without a key")
	}
}

func TestSecretsNeverShowInErrors(t *testing.T) {
	echo := newReceiver(t, func(int) int { return http.StatusNotFound }) // a 404 body that quotes the path
	echo.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "no webhook at "+r.URL.String())
	})
	tests := []struct {
		name string
		ch   Channel
		url  string
	}{
		{"a refused connection", Channel{Name: "slack", Type: TypeSlack}, "http://127.0.0.1:1/services/T0/B0/SUPERSECRETTOKEN"},
		{"a 404 that quotes the URL", Channel{Name: "teams", Type: TypeTeams}, echo.URL + "/invoke?sig=SUPERSECRETTOKEN"},
		{"plain http to another host", Channel{Name: "slack", Type: TypeSlack}, "http://hooks.example.com/services/SUPERSECRETTOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sender(fixedSecrets{"notify:" + tt.ch.Name: {"x", tt.url}}).Send(context.Background(), tt.ch, alertMessage(KindRaised))
			if err == nil || strings.Contains(err.Error(), "SUPERSECRETTOKEN") || strings.Contains(err.Error(), tt.url) {
				t.Fatalf("error %v", err)
			}
		})
	}
}

func TestAChannelWithoutItsSecretFailsForGoodAndSaysHowToStoreIt(t *testing.T) {
	err := sender(fixedSecrets{}).Send(context.Background(), Channel{Name: "pd", Type: TypePagerDuty}, alertMessage(KindRaised))
	if !IsPermanent(err) || !strings.Contains(err.Error(), "rmm notify secret pd") {
		t.Fatalf("error %v", err)
	}
}
