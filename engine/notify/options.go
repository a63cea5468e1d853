package notify

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ChannelType is how a channel delivers.
type ChannelType string

// Channel types.
const (
	TypeEmail     ChannelType = "email"
	TypeTeams     ChannelType = "teams"
	TypeSlack     ChannelType = "slack"
	TypePagerDuty ChannelType = "pagerduty"
	TypeWebhook   ChannelType = "webhook"
)

// ChannelTypes lists every channel type.
func ChannelTypes() []ChannelType {
	return []ChannelType{TypeEmail, TypeTeams, TypeSlack, TypePagerDuty, TypeWebhook}
}

// DefaultPagerDutyURL is the Events API v2 endpoint.
const DefaultPagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// SecretPrefix starts the credential name under which a channel's secret
// is stored in the keyring or vault: "notify:" + the channel's name.
const SecretPrefix = "notify:"

// Email TLS modes.
const (
	TLSStartTLS = "starttls" // plain connection, then STARTTLS, which must succeed (port 587)
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // no TLS: only for a relay on this machine, and never with a password
)

// Email auth mechanisms.
var emailAuths = []string{"plain", "login", "cram-md5", "none"}

// Channel is one place messages go. What it needs beyond these fields is
// a secret, stored as the credential SecretName():
//   - email: the SMTP user (the credential's user) and password, when
//     the server wants authentication;
//   - teams: the Workflows webhook URL (it carries its signature);
//   - slack: the incoming webhook URL (it carries its token);
//   - pagerduty: the integration's routing key;
//   - webhook: the HMAC-SHA256 key that signs each body (optional).
type Channel struct {
	Name string
	Type ChannelType

	// email
	Host     string   // SMTP server
	Port     int      // 0: 587 for starttls, 465 for tls, 25 for none
	TLS      string   // starttls (default), tls or none
	From     string   // the sender address
	To       []string // recipients
	Auth     string   // plain (default), login, cram-md5, or none
	CABundle string   // PEM file of CAs trusted for the server (email) or the URL (webhook, pagerduty); "": the system's

	// pagerduty (the Events API URL; default DefaultPagerDutyURL) and
	// webhook (the receiver's URL)
	URL     string
	Headers map[string]string // webhook: extra headers; never secrets (refused by name)

	Line int // where the channel starts in the config file, for errors
}

// SecretName is the credential that holds the channel's secret.
func (c Channel) SecretName() string { return SecretPrefix + c.Name }

// SecretRequired reports whether the channel cannot send without its
// secret, and says what the secret is.
func (c Channel) SecretRequired() (bool, string) {
	switch c.Type {
	case TypeTeams:
		return true, "the Teams Workflows webhook URL"
	case TypeSlack:
		return true, "the Slack incoming webhook URL"
	case TypePagerDuty:
		return true, "the PagerDuty integration (routing) key"
	case TypeWebhook:
		return false, "the HMAC-SHA256 signing key (optional)"
	case TypeEmail:
		if c.Auth == "none" {
			return false, "nothing (auth: none)"
		}
		return false, "the SMTP user and password (optional: without one rmm does not authenticate)"
	}
	return false, ""
}

// refusedHeaders carry credentials: a secret in the config file is what
// rmm must never need. Webhook receivers authenticate rmm by its HMAC
// signature instead.
var refusedHeaders = []string{"authorization", "proxy-authorization", "cookie", "x-api-key", "x-auth-token"}

// reservedHeaders are set by rmm itself.
var reservedHeaders = []string{"content-type", "content-length", "host", "user-agent",
	strings.ToLower(HeaderSignature), strings.ToLower(HeaderTimestamp), strings.ToLower(HeaderEvent), strings.ToLower(HeaderDelivery)}

// Validate checks the channel's own fields (not its secret).
func (c Channel) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &SettingError{Field: "channels." + c.Name + "." + field, Problem: fmt.Sprintf(format, args...)}
	}
	if err := checkName(c.Name); err != nil {
		return &SettingError{Field: "channels", Problem: err.Error()}
	}
	switch c.Type {
	case TypeEmail:
		if strings.TrimSpace(c.Host) == "" {
			return bad("host", "missing: the SMTP server's name")
		}
		if c.Port < 0 || c.Port > 65535 {
			return bad("port", "%d is out of range 1..65535", c.Port)
		}
		switch c.TLS {
		case "", TLSStartTLS, TLSImplicit, TLSNone:
		default:
			return bad("tls", "%q is not one of starttls, tls, none", c.TLS)
		}
		if c.TLS == TLSNone && !isLoopbackHost(c.Host) {
			return bad("tls", "none is allowed only for a relay on this machine (127.0.0.1, ::1, localhost); %s would see mail and any password in clear", c.Host)
		}
		if _, err := mail.ParseAddress(c.From); err != nil {
			return bad("from", "%q is not an email address", c.From)
		}
		if len(c.To) == 0 {
			return bad("to", "missing: at least one recipient")
		}
		for _, to := range c.To {
			if _, err := mail.ParseAddress(to); err != nil {
				return bad("to", "%q is not an email address", to)
			}
		}
		if c.Auth != "" && !slices.Contains(emailAuths, c.Auth) {
			return bad("auth", "%q is not one of %s", c.Auth, strings.Join(emailAuths, ", "))
		}
	case TypeTeams, TypeSlack:
		if c.URL != "" {
			return bad("url", "the %s webhook URL carries its token: store it in the keyring (rmm notify secret %s), not in the config file", c.Type, c.Name)
		}
	case TypePagerDuty:
		if c.URL != "" {
			if err := CheckURL(c.URL); err != nil {
				return bad("url", "%v", err)
			}
		}
	case TypeWebhook:
		if c.URL == "" {
			return bad("url", "missing: the receiver's URL")
		}
		if err := CheckURL(c.URL); err != nil {
			return bad("url", "%v", err)
		}
		for h := range c.Headers {
			lh := strings.ToLower(h)
			switch {
			case slices.Contains(refusedHeaders, lh):
				return bad("headers."+h, "carries a credential, and secrets never go in the config file: the receiver can check rmm's %s header (HMAC-SHA256 with the key from rmm notify secret %s)", HeaderSignature, c.Name)
			case slices.Contains(reservedHeaders, lh):
				return bad("headers."+h, "is set by rmm")
			case !validHeaderName(h):
				return bad("headers."+h, "is not a valid HTTP header name")
			}
		}
	case "":
		return bad("type", "missing: one of %s", typeList())
	default:
		return bad("type", "%q is not one of %s", c.Type, typeList())
	}
	if c.Type != TypeWebhook && len(c.Headers) > 0 {
		return bad("headers", "only webhook channels take headers")
	}
	return nil
}

func typeList() string {
	var s []string
	for _, t := range ChannelTypes() {
		s = append(s, string(t))
	}
	return strings.Join(s, ", ")
}

func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// checkName accepts channel and route names: letters, digits, '-', '_',
// '.', at most 64 bytes.
func checkName(name string) error {
	if name == "" {
		return errors.New("a name is empty")
	}
	if len(name) > 64 {
		return fmt.Errorf("name %q is longer than 64 bytes", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("name %q: only letters, digits, '-', '_' and '.' are allowed", name)
		}
	}
	return nil
}

// CheckURL accepts an https URL, or an http one whose host is this
// machine (127.0.0.0/8, ::1, localhost): a test receiver. It refuses a
// user and password in the URL.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("not an absolute URL (https://host/path)")
	}
	if u.User != nil {
		return errors.New("has a user and password in it; secrets never go in the config file")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("plain http to %s would send alerts in clear: use https (http is allowed only to this machine, for a test receiver)", u.Hostname())
	}
	return fmt.Errorf("scheme %q is not https", u.Scheme)
}

// isLoopbackHost reports whether host names this machine.
func isLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SettingError is one bad setting: Field names it as the config file
// does below `notifications:`.
type SettingError struct {
	Field   string
	Problem string
}

func (e *SettingError) Error() string { return e.Field + ": " + e.Problem }

// Match selects the alerts a route takes. Each list matches when it is
// empty or when the alert has one of its values (names compare without
// case); a route matches when every list does.
type Match struct {
	Severity []string // Critical, High, Medium, Low, Info
	Type     []string // alert types: offline, cpu_high, disk_used...
	Site     []string // the device's site
	Group    []string // one of the device's groups
	Tag      []string // one of the device's tags
}

// Matches reports whether the alert falls under m.
func (m Match) Matches(a Alert) bool {
	in := func(list []string, v ...string) bool {
		if len(list) == 0 {
			return true
		}
		for _, want := range list {
			for _, have := range v {
				if strings.EqualFold(want, have) {
					return true
				}
			}
		}
		return false
	}
	return in(m.Severity, a.Severity) && in(m.Type, a.Type) && in(m.Site, a.Site) &&
		in(m.Group, a.Groups...) && in(m.Tag, a.Tags...)
}

// Route sends the alerts it matches to its channels.
type Route struct {
	Name     string
	Match    Match
	Channels []string
	// Repeat re-sends an alert that is still Active (not acknowledged, not
	// resolved) this long after the last message about it; 0: never.
	Repeat time.Duration
	// Digest holds the route's messages and sends one per channel every
	// Digest (windows aligned to the clock: 15m sends at :00, :15...);
	// 0: each change goes at once.
	Digest time.Duration
	// OnResolve sends the resolution of an alert the route told about.
	OnResolve bool
	// OnAck sends the acknowledgement of an alert the route told about.
	// PagerDuty channels get acknowledgements and resolutions whatever
	// these say, so an incident follows its alert.
	OnAck bool
	// Quiet holds messages during quiet hours, and sends what was held
	// when they end; nil: no quiet hours.
	Quiet *QuietHours
	Line  int // where the route starts in the config file, for errors
}

// QuietHours is a daily period when a route holds its messages.
type QuietHours struct {
	From, To time.Duration  // wall-clock times of day (22h, 7h); To before From spans midnight
	Days     []time.Weekday // the days a period starts; empty: every day
	Location *time.Location // the wall clock's zone; nil: UTC
	Except   []string       // severities that are sent even then (e.g. Critical)
}

// Until reports whether t is inside quiet hours, and if so when they end.
func (q *QuietHours) Until(t time.Time) (time.Time, bool) {
	if q == nil || q.From == q.To {
		return time.Time{}, false
	}
	loc := q.Location
	if loc == nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	// A period starts on the day of t or the day before (one that spans
	// midnight); check both.
	for back := 0; back <= 1; back++ {
		d := lt.AddDate(0, 0, -back)
		if len(q.Days) > 0 && !slices.Contains(q.Days, d.Weekday()) {
			continue
		}
		start := atTime(d, q.From, loc)
		end := atTime(d, q.To, loc)
		if q.To <= q.From {
			end = atTime(d.AddDate(0, 0, 1), q.To, loc)
		}
		if !t.Before(start) && t.Before(end) {
			return end, true
		}
	}
	return time.Time{}, false
}

// atTime is the wall-clock time of day tod on d's date in loc.
func atTime(d time.Time, tod time.Duration, loc *time.Location) time.Time {
	h, m := int(tod/time.Hour), int(tod%time.Hour/time.Minute)
	return time.Date(d.Year(), d.Month(), d.Day(), h, m, 0, 0, loc)
}

// Excepted reports whether a message of this severity goes out even
// during quiet hours.
func (q *QuietHours) Excepted(severity string) bool {
	return q != nil && slices.ContainsFunc(q.Except, func(s string) bool { return strings.EqualFold(s, severity) })
}

// Defaults of Options.
const (
	DefaultMaxAge     = 24 * time.Hour
	DefaultAttempts   = 10
	DefaultBackoff    = 30 * time.Second
	DefaultMaxBackoff = time.Hour
	DefaultKeep       = 30 * 24 * time.Hour
)

// Options is the notifications setup: channels, routes and the outbox's
// retry policy. The zero value sends nothing.
type Options struct {
	Org      string // shown in subjects: "[Org] ..."
	Channels map[string]Channel
	Routes   []Route
	// MaxAge: an alert change older than this when the notifier first
	// sees it (rmm was not running) is not sent (default 24h).
	MaxAge time.Duration
	// Attempts before a message is given up as failed (default 10);
	// Backoff is the first pause (default 30s), doubling up to MaxBackoff
	// (default 1h).
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Keep is how long sent, failed and suppressed messages stay in the
	// outbox for the console and rmm notify outbox (default 30 days).
	Keep time.Duration
}

// WithDefaults fills the zero fields and checks everything: channels,
// routes, and that each route names channels that exist.
func (o Options) WithDefaults() (Options, error) {
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Attempts == 0 {
		o.Attempts = DefaultAttempts
	}
	if o.Backoff == 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.Keep == 0 {
		o.Keep = DefaultKeep
	}
	var errs []error
	for _, name := range slices.Sorted(mapsKeys(o.Channels)) {
		c := o.Channels[name]
		if c.Name != name {
			errs = append(errs, &SettingError{Field: "channels." + name, Problem: fmt.Sprintf("is named %q", c.Name)})
			continue
		}
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	seen := map[string]bool{}
	for i, r := range o.Routes {
		field := fmt.Sprintf("routes[%d]", i)
		if err := checkName(r.Name); err != nil {
			errs = append(errs, &SettingError{Field: field + ".name", Problem: err.Error()})
		} else if seen[strings.ToLower(r.Name)] {
			errs = append(errs, &SettingError{Field: field + ".name", Problem: fmt.Sprintf("%q is used twice", r.Name)})
		}
		seen[strings.ToLower(r.Name)] = true
		if len(r.Channels) == 0 {
			errs = append(errs, &SettingError{Field: field + ".channels", Problem: "missing: at least one channel"})
		}
		for _, ch := range r.Channels {
			if _, ok := o.Channels[ch]; !ok {
				errs = append(errs, &SettingError{Field: field + ".channels", Problem: fmt.Sprintf("%q is not a channel (channels: %s)", ch, strings.Join(slices.Sorted(mapsKeys(o.Channels)), ", "))})
			}
		}
		for _, s := range append(slices.Clone(r.Match.Severity), quietExcept(r.Quiet)...) {
			if canonicalSeverity(s) == "" {
				errs = append(errs, &SettingError{Field: field, Problem: fmt.Sprintf("severity %q is not one of %s", s, strings.Join(severities, ", "))})
			}
		}
		if r.Repeat < 0 || r.Repeat > 0 && r.Repeat < time.Minute {
			errs = append(errs, &SettingError{Field: field + ".repeat", Problem: fmt.Sprintf("%s: 0 (never) or at least 1m", r.Repeat)})
		}
		if r.Digest < 0 || r.Digest > 0 && (r.Digest < time.Minute || r.Digest > 24*time.Hour) {
			errs = append(errs, &SettingError{Field: field + ".digest", Problem: fmt.Sprintf("%s: 0 (none) or 1m..24h", r.Digest)})
		}
	}
	switch {
	case o.MaxAge < time.Minute:
		errs = append(errs, &SettingError{Field: "max_age", Problem: fmt.Sprintf("%s is below 1m", o.MaxAge)})
	case o.Attempts < 1 || o.Attempts > 100:
		errs = append(errs, &SettingError{Field: "attempts", Problem: fmt.Sprintf("%d is out of range 1..100", o.Attempts)})
	case o.Backoff < time.Second || o.MaxBackoff < o.Backoff:
		errs = append(errs, &SettingError{Field: "backoff", Problem: fmt.Sprintf("%s (max %s): want at least 1s, and max_backoff not below it", o.Backoff, o.MaxBackoff)})
	}
	return o, errors.Join(errs...)
}

func quietExcept(q *QuietHours) []string {
	if q == nil {
		return nil
	}
	return q.Except
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// BackoffAfter is the pause before attempt n+1 after n failed attempts:
// Backoff doubled n-1 times, at most MaxBackoff.
func (o Options) BackoffAfter(n int) time.Duration {
	d := o.Backoff
	for i := 1; i < n && d < o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, o.MaxBackoff)
}

// Enabled reports whether anything can be sent.
func (o Options) Enabled() bool { return len(o.Routes) > 0 }
