package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// ErrNoSecret is wrapped when a channel's secret is not stored.
var ErrNoSecret = errors.New("no secret stored for the channel")

// Secrets gives a channel's secret at send time: user is the SMTP user
// (email) and may be empty; secret is the password, URL, routing key or
// HMAC key. A missing secret is an error wrapping ErrNoSecret.
type Secrets interface {
	Secret(ctx context.Context, name string) (user, secret string, err error)
}

// SendError is a failed delivery. Permanent says a retry cannot help (the
// receiver refused the request as bad, the channel lacks its secret); the
// outbox gives such a message up at once. Its text names the channel,
// never a URL or a secret.
type SendError struct {
	Channel   string
	Permanent bool
	Status    int // the HTTP status, 0 when none
	Err       error
}

func (e *SendError) Error() string { return "channel " + e.Channel + ": " + e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a delivery no retry can fix.
func IsPermanent(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Permanent
}

// DefaultTimeout bounds one delivery (one HTTP request, one SMTP session).
const DefaultTimeout = 20 * time.Second

// Sender delivers messages. The zero value is not usable: Secrets is
// required.
type Sender struct {
	Secrets   Secrets
	UserAgent string           // "rmm/VERSION"
	Timeout   time.Duration    // per delivery; 0: DefaultTimeout
	Now       func() time.Time // nil: time.Now
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sender) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

// Send delivers m on ch.
func (s *Sender) Send(ctx context.Context, ch Channel, m Message) error {
	if err := ch.Validate(); err != nil {
		return &SendError{Channel: ch.Name, Permanent: true, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	user, secret, err := s.Secrets.Secret(ctx, ch.SecretName())
	required, what := ch.SecretRequired()
	switch {
	case errors.Is(err, ErrNoSecret) && required:
		return &SendError{Channel: ch.Name, Permanent: true, Err: fmt.Errorf("%w: store %s with rmm notify secret %s", ErrNoSecret, what, ch.Name)}
	case errors.Is(err, ErrNoSecret):
		user, secret = "", ""
	case err != nil:
		return &SendError{Channel: ch.Name, Err: fmt.Errorf("read its secret: %w", err)}
	}
	err = s.send(ctx, ch, m, user, secret)
	if err == nil {
		return nil
	}
	var se *SendError
	if !errors.As(err, &se) {
		se = &SendError{Channel: ch.Name, Err: err}
	}
	se.Channel = ch.Name
	se.Err = redactError(se.Err, secret, user)
	return se
}

func (s *Sender) send(ctx context.Context, ch Channel, m Message, user, secret string) error {
	switch ch.Type {
	case TypeEmail:
		return s.sendEmail(ctx, ch, m, user, secret)
	case TypeTeams:
		return s.postJSON(ctx, ch, secret, Teams(m), nil)
	case TypeSlack:
		return s.postJSON(ctx, ch, secret, Slack(m), nil)
	case TypePagerDuty:
		evs, err := PagerDuty(m, secret)
		if err != nil {
			return &SendError{Permanent: true, Err: err}
		}
		u := ch.URL
		if u == "" {
			u = DefaultPagerDutyURL
		}
		for _, ev := range evs {
			if err := s.postJSON(ctx, ch, u, ev, nil); err != nil {
				return err
			}
		}
		return nil
	case TypeWebhook:
		body, err := json.Marshal(Webhook(m))
		if err != nil {
			return &SendError{Permanent: true, Err: fmt.Errorf("encode: %w", err)}
		}
		h := http.Header{}
		for k, v := range ch.Headers {
			h.Set(k, v)
		}
		ts := s.now()
		h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
		h.Set(HeaderEvent, string(m.Kind))
		h.Set(HeaderDelivery, strconv.FormatInt(m.Delivery, 10))
		if secret != "" {
			h.Set(HeaderSignature, Sign([]byte(secret), ts, body))
		}
		return s.post(ctx, ch, ch.URL, body, h)
	}
	return &SendError{Permanent: true, Err: fmt.Errorf("unknown channel type %q", ch.Type)}
}

// postJSON posts v as JSON to rawURL.
func (s *Sender) postJSON(ctx context.Context, ch Channel, rawURL string, v any, h http.Header) error {
	body, err := json.Marshal(v)
	if err != nil {
		return &SendError{Permanent: true, Err: fmt.Errorf("encode: %w", err)}
	}
	return s.post(ctx, ch, rawURL, body, h)
}

// post sends one request. A URL that is not https (or http to this
// machine) is refused before anything is sent. Redirects are not
// followed: a webhook that moved is a configuration to fix, and
// following one could carry the body somewhere unintended.
func (s *Sender) post(ctx context.Context, ch Channel, rawURL string, body []byte, h http.Header) error {
	if err := CheckURL(rawURL); err != nil {
		return &SendError{Permanent: true, Err: fmt.Errorf("the URL is refused: %w", err)}
	}
	client, err := httpClient(ch.CABundle)
	if err != nil {
		return &SendError{Permanent: true, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return &SendError{Permanent: true, Err: errors.New("cannot build the request (is the URL valid?)")}
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	if s.UserAgent != "" {
		req.Header.Set("User-Agent", s.UserAgent)
	}
	resp, err := client.Do(req)
	if err != nil {
		// url.Error quotes the URL, which may carry the channel's token:
		// keep only what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return &SendError{Err: fmt.Errorf("no answer within %s", s.timeout())}
		}
		return &SendError{Err: fmt.Errorf("post: %w", err)}
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	msg := fmt.Sprintf("the receiver answered %s", resp.Status)
	if t := asciiLine(string(excerpt)); t != "" {
		msg += ": " + t
	}
	// 408 and 429 say "later"; 5xx is the receiver's trouble; any other
	// answer (a 400 on the payload, a 404 on a deleted webhook, a 3xx
	// that would need following) will not change by itself.
	perm := resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500
	return &SendError{Permanent: perm, Status: resp.StatusCode, Err: errors.New(msg)}
}

// httpClient returns a client trusting the CAs of caBundle (the system's
// when empty), using the environment's proxy, and not following
// redirects.
func httpClient(caBundle string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	tlsCfg, err := tlsConfig(caBundle, "")
	if err != nil {
		return nil, err
	}
	tr.TLSClientConfig = tlsCfg
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}, nil
}

// tlsConfig trusts the CAs of caBundle (the system's when empty).
func tlsConfig(caBundle, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caBundle == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caBundle)
	if err != nil {
		return nil, fmt.Errorf("read ca_bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_bundle %s holds no PEM certificate", caBundle)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// sendEmail delivers m over SMTP: STARTTLS that must succeed, implicit
// TLS, or (to this machine only) none; authentication when a user and
// password are stored.
func (s *Sender) sendEmail(ctx context.Context, ch Channel, m Message, user, password string) error {
	body, err := Email(m, ch.From)
	if err != nil {
		return &SendError{Permanent: true, Err: err}
	}
	msg := gomail.NewMsg()
	if err := msg.From(ch.From); err != nil {
		return &SendError{Permanent: true, Err: fmt.Errorf("from: %w", err)}
	}
	if err := msg.To(ch.To...); err != nil {
		return &SendError{Permanent: true, Err: fmt.Errorf("to: %w", err)}
	}
	msg.Subject(body.Subject)
	msg.SetMessageIDWithValue(body.MessageID)
	if body.InReplyTo != "" {
		ref := "<" + body.InReplyTo + ">"
		msg.SetGenHeader(gomail.HeaderInReplyTo, ref)
		msg.SetGenHeader(gomail.HeaderReferences, ref)
	}
	msg.SetDate()
	if s.UserAgent != "" {
		msg.SetUserAgent(s.UserAgent)
	}
	msg.SetBodyString(gomail.TypeTextPlain, body.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, body.HTML)
	if a := m.Attachment; a != nil {
		f, err := os.Open(a.Path)
		if err != nil {
			return &SendError{Permanent: true, Err: fmt.Errorf("attach %s: %w", a.Name, err)}
		}
		defer f.Close()
		opts := []gomail.FileOption{gomail.WithFileName(a.Name)}
		if a.ContentType != "" {
			opts = append(opts, gomail.WithFileContentType(gomail.ContentType(a.ContentType)))
		}
		if err := msg.AttachReader(a.Name, f, opts...); err != nil {
			return &SendError{Permanent: true, Err: fmt.Errorf("attach %s: %w", a.Name, err)}
		}
	}

	tlsCfg, err := tlsConfig(ch.CABundle, ch.Host)
	if err != nil {
		return &SendError{Permanent: true, Err: err}
	}
	port := ch.Port
	mode := ch.TLS
	if mode == "" {
		mode = TLSStartTLS
	}
	opts := []gomail.Option{gomail.WithTimeout(s.timeout()), gomail.WithTLSConfig(tlsCfg)}
	switch mode {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
		if port == 0 {
			port = 465
		}
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
		if port == 0 {
			port = 25
		}
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
		if port == 0 {
			port = 587
		}
	}
	opts = append(opts, gomail.WithPort(port))
	if password != "" && ch.Auth != "none" {
		auth := gomail.SMTPAuthPlain
		switch ch.Auth {
		case "login":
			auth = gomail.SMTPAuthLogin
		case "cram-md5":
			auth = gomail.SMTPAuthCramMD5
		}
		if mode == TLSNone { // loopback only (Validate): no TLS to require
			switch auth {
			case gomail.SMTPAuthPlain:
				auth = gomail.SMTPAuthPlainNoEnc
			case gomail.SMTPAuthLogin:
				auth = gomail.SMTPAuthLoginNoEnc
			}
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(user), gomail.WithPassword(password))
	}
	c, err := gomail.NewClient(ch.Host, opts...)
	if err != nil {
		return &SendError{Permanent: true, Err: fmt.Errorf("smtp: %w", err)}
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return &SendError{Permanent: smtpPermanent(err), Err: fmt.Errorf("smtp %s:%d: %w", ch.Host, port, err)}
	}
	return nil
}

// smtpPermanent reports whether the server refused for good: a 5xx reply
// to the mail (a recipient refused, the message rejected). A 4xx, a
// refused or dropped connection, a timeout, a failed login are retried.
func smtpPermanent(err error) bool {
	var se *gomail.SendError
	return errors.As(err, &se) && se.ErrorCode() >= 500 && se.ErrorCode() < 600
}

// redactError replaces any appearance of the secret (or of a URL's path
// or query taken from it) in err's text.
func redactError(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, s := range secrets {
		for _, part := range secretParts(s) {
			if len(part) >= 6 && strings.Contains(msg, part) {
				msg = strings.ReplaceAll(msg, part, "<redacted>")
				changed = true
			}
		}
	}
	if !changed {
		return err
	}
	return errors.New(msg)
}

// secretParts are the pieces of a secret that must not show: the secret,
// and for a URL its path and query (the token lives there).
func secretParts(s string) []string {
	if s == "" {
		return nil
	}
	parts := []string{s}
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		if u.RawQuery != "" {
			parts = append(parts, u.RawQuery)
		}
		if u.Path != "" && u.Path != "/" {
			parts = append(parts, u.Path)
		}
	}
	return parts
}

// asciiLine makes a receiver's answer safe for a log line: printable
// ASCII only, one line, at most 200 bytes.
func asciiLine(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		}
		if b.Len() >= 200 {
			break
		}
	}
	return strings.TrimSpace(b.String())
}
