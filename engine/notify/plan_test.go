package notify

import (
	"strings"
	"testing"
	"time"
)

// routingOptions: a pager for critical servers, ops mail for hq
// (digest), a chat route with quiet hours, and a webhook for everything.
func routingOptions(t *testing.T) Options {
	t.Helper()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{
		Channels: map[string]Channel{
			"pd":    {Name: "pd", Type: TypePagerDuty},
			"mail":  {Name: "mail", Type: TypeEmail, Host: "smtp.example.com", From: "rmm@example.com", To: []string{"ops@example.com"}},
			"teams": {Name: "teams", Type: TypeTeams},
			"hook":  {Name: "hook", Type: TypeWebhook, URL: "https://hooks.example.com/rmm"},
		},
		Routes: []Route{
			{Name: "pager", Match: Match{Severity: []string{"critical"}, Group: []string{"servers"}}, Channels: []string{"pd", "teams"}},
			{Name: "hq-mail", Match: Match{Site: []string{"HQ"}}, Channels: []string{"mail"}, Digest: 15 * time.Minute, OnResolve: true},
			{Name: "chat", Match: Match{Type: []string{"offline", "disk_used"}}, Channels: []string{"teams"}, OnResolve: true,
				Quiet: &QuietHours{From: 22 * time.Hour, To: 7 * time.Hour, Location: berlin, Except: []string{"Critical"}}},
			{Name: "all", Channels: []string{"hook"}, OnResolve: false, OnAck: true, Repeat: time.Hour},
		},
	}
	o, err = o.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func summary(d Decision) string {
	var parts []string
	for _, dv := range d.Deliveries {
		s := dv.Route + ">" + dv.Channel + ":" + string(dv.Kind)
		if !dv.HoldUntil.IsZero() {
			s += "@" + dv.HoldUntil.UTC().Format("15:04")
			if dv.Merge {
				s += "+merge"
			}
		}
		if dv.Suppressed != "" {
			s += "(suppressed)"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ") + " track=" + strings.Join(d.Track, ",") + " untrack=" + strings.Join(d.Untrack, ",")
}

func TestRoutingTable(t *testing.T) {
	o := routingOptions(t)
	noon := time.Date(2026, 11, 20, 11, 7, 0, 0, time.UTC)   // 12:07 in Berlin
	night := time.Date(2026, 11, 20, 23, 30, 0, 0, time.UTC) // 00:30 in Berlin: quiet
	server := func(sev string, ev Kind) Alert {
		return Alert{ID: 1, Event: ev, Hostname: "SRV-1", Site: "hq", Groups: []string{"Servers"}, Type: "disk_used", Severity: sev}
	}
	branch := func(sev, typ string, ev Kind) Alert {
		return Alert{ID: 2, Event: ev, Hostname: "WS-9", Site: "branch", Groups: []string{"workstations"}, Type: typ, Severity: sev}
	}
	all := func(string) bool { return true }
	none := func(string) bool { return false }
	only := func(routes ...string) func(string) bool {
		return func(r string) bool { return strings.Contains(","+strings.Join(routes, ",")+",", ","+r+",") }
	}
	tests := []struct {
		name  string
		a     Alert
		told  func(string) bool
		maint bool
		at    time.Time
		want  string
	}{
		{"a critical server disk alert pages, mails (digest), posts once to teams and hooks",
			server("Critical", KindRaised), none, false, noon,
			"pager>pd:raised pager>teams:raised hq-mail>mail:raised@11:15+merge all>hook:raised track=pager,hq-mail,chat,all untrack="},
		{"a medium one skips the pager; chat posts it",
			server("Medium", KindRaised), none, false, noon,
			"hq-mail>mail:raised@11:15+merge chat>teams:raised all>hook:raised track=hq-mail,chat,all untrack="},
		{"at night chat holds it until 07:00 Berlin (06:00 UTC), to merge",
			branch("High", "offline", KindRaised), none, false, night,
			"chat>teams:raised@06:00+merge all>hook:raised track=chat,all untrack="},
		{"at night a Critical one is excepted from quiet hours",
			branch("Critical", "offline", KindRaised), none, false, night,
			"chat>teams:raised all>hook:raised track=chat,all untrack="},
		{"a type no route but all takes",
			branch("High", "cpu_high", KindRaised), none, false, noon,
			"all>hook:raised track=all untrack="},
		{"inside a maintenance window the raise is recorded as suppressed and tracked nowhere",
			server("Critical", KindRaised), none, true, noon,
			"pager>pd:raised(suppressed) pager>teams:raised(suppressed) hq-mail>mail:raised(suppressed) all>hook:raised(suppressed) track= untrack="},
		{"an acknowledgement goes to PagerDuty always, and where on_ack is set",
			server("Critical", KindAcknowledged), all, false, noon,
			"pager>pd:acknowledged all>hook:acknowledged track= untrack="},
		{"a resolution goes where the raise went: pager (PagerDuty always, teams not: on_resolve off), mail digest, chat",
			server("Critical", KindResolved), all, false, noon,
			"pager>pd:resolved hq-mail>mail:resolved@11:15+merge chat>teams:resolved track= untrack=pager,hq-mail,chat,all"},
		{"a resolution goes nowhere the raise did not",
			server("Critical", KindResolved), only("chat"), false, noon,
			"chat>teams:resolved track= untrack=chat"},
		{"a resolution whose severity no longer matches still reaches the route that told",
			server("Low", KindResolved), only("pager"), false, noon,
			"pager>pd:resolved track= untrack=pager"},
		{"an escalation is a raise where it now matches",
			server("Critical", KindEscalated), only("hq-mail", "chat", "all"), false, noon,
			"pager>pd:escalated pager>teams:escalated hq-mail>mail:escalated@11:15+merge all>hook:escalated track=pager,hq-mail,chat,all untrack="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := summary(Plan(o, tt.a, tt.told, tt.maint, tt.at)); got != tt.want {
				t.Fatalf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestQuietHoursSpanMidnightFollowTheirDaysAndDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	q := &QuietHours{From: 22 * time.Hour, To: 6 * time.Hour, Days: []time.Weekday{time.Friday, time.Saturday}, Location: ny}
	tests := []struct {
		at      time.Time
		quiet   bool
		endsUTC string
	}{
		{time.Date(2026, 3, 6, 23, 0, 0, 0, ny), true, "2026-03-07 11:00"}, // Friday night, EST
		{time.Date(2026, 3, 7, 5, 59, 0, 0, ny), true, "2026-03-07 11:00"}, // early Saturday, from Friday's period
		{time.Date(2026, 3, 7, 6, 0, 0, 0, ny), false, ""},                 // it ended
		{time.Date(2026, 3, 7, 23, 0, 0, 0, ny), true, "2026-03-08 10:00"}, // Saturday night: 06:00 Sunday is EDT by then
		{time.Date(2026, 3, 8, 23, 0, 0, 0, ny), false, ""},                // Sunday night is not a quiet day
		{time.Date(2026, 3, 9, 2, 0, 0, 0, ny), false, ""},                 // nor its early Monday
	}
	for _, tt := range tests {
		end, quiet := q.Until(tt.at)
		got := ""
		if quiet {
			got = end.UTC().Format("2006-01-02 15:04")
		}
		if quiet != tt.quiet || got != tt.endsUTC {
			t.Errorf("at %s: quiet %v until %q, want %v until %q", tt.at, quiet, got, tt.quiet, tt.endsUTC)
		}
	}
}

func TestDigestWindowsAreAlignedToTheClock(t *testing.T) {
	at := time.Date(2026, 11, 20, 10, 7, 30, 0, time.UTC)
	for every, want := range map[time.Duration]string{15 * time.Minute: "10:15", time.Hour: "11:00", 5 * time.Minute: "10:10"} {
		if got := DigestEnd(every, at).Format("15:04"); got != want {
			t.Errorf("digest %s at 10:07:30 ends %s, want %s", every, got, want)
		}
	}
}

func TestRepeatsSkipPagerDutyAndQuietHours(t *testing.T) {
	o := routingOptions(t)
	pager, _ := o.RouteByName("pager")
	ds, ok := PlanRepeat(o, pager, Alert{ID: 1, Severity: "Critical"}, time.Date(2026, 11, 20, 11, 0, 0, 0, time.UTC))
	if !ok || len(ds) != 1 || ds[0].Channel != "teams" || ds[0].Kind != KindRepeat {
		t.Fatalf("pager repeat %+v %v", ds, ok)
	}
	chat, _ := o.RouteByName("chat")
	if ds, ok := PlanRepeat(o, chat, Alert{ID: 2, Severity: "High"}, time.Date(2026, 11, 20, 23, 30, 0, 0, time.UTC)); ok || ds != nil {
		t.Fatalf("a repeat in quiet hours: %+v", ds)
	}
}

func TestOptionsAreCheckedWithTheFieldNamed(t *testing.T) {
	base := func() Options {
		return Options{Channels: map[string]Channel{"hook": {Name: "hook", Type: TypeWebhook, URL: "https://h.example.com/x"}},
			Routes: []Route{{Name: "r", Channels: []string{"hook"}}}}
	}
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"a route naming an unknown channel", func(o *Options) { o.Routes[0].Channels = []string{"nope"} }, `routes[0].channels: "nope" is not a channel (channels: hook)`},
		{"a bad severity", func(o *Options) { o.Routes[0].Match.Severity = []string{"urgent"} }, `severity "urgent" is not one of`},
		{"a digest under a minute", func(o *Options) { o.Routes[0].Digest = time.Second }, "routes[0].digest"},
		{"a repeated route name", func(o *Options) { o.Routes = append(o.Routes, o.Routes[0]) }, `routes[1].name: "r" is used twice`},
		{"a webhook to plain http elsewhere", func(o *Options) {
			o.Channels["hook"] = Channel{Name: "hook", Type: TypeWebhook, URL: "http://hooks.example.com/x"}
		}, "channels.hook.url: plain http to hooks.example.com"},
		{"a webhook URL with a password in it", func(o *Options) {
			o.Channels["hook"] = Channel{Name: "hook", Type: TypeWebhook, URL: "https://u:p@hooks.example.com/x"}
		}, "has a user and password in it"},
		{"an Authorization header", func(o *Options) {
			o.Channels["hook"] = Channel{Name: "hook", Type: TypeWebhook, URL: "https://h.example.com/x", Headers: map[string]string{"Authorization": "Bearer x"}}
		}, "channels.hook.headers.Authorization: carries a credential"},
		{"a Teams URL in the config", func(o *Options) {
			o.Channels["t"] = Channel{Name: "t", Type: TypeTeams, URL: "https://x.logic.azure.com/workflows/1"}
		}, "channels.t.url: the teams webhook URL carries its token"},
		{"mail without TLS to another host", func(o *Options) {
			o.Channels["m"] = Channel{Name: "m", Type: TypeEmail, Host: "smtp.example.com", TLS: TLSNone, From: "a@example.com", To: []string{"b@example.com"}}
		}, "channels.m.tls: none is allowed only for a relay on this machine"},
		{"mail without recipients", func(o *Options) {
			o.Channels["m"] = Channel{Name: "m", Type: TypeEmail, Host: "smtp.example.com", From: "a@example.com"}
		}, "channels.m.to: missing"},
		{"an unknown type", func(o *Options) { o.Channels["x"] = Channel{Name: "x", Type: "discord"} }, `channels.x.type: "discord" is not one of email, teams, slack, pagerduty, webhook`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base()
			tt.edit(&o)
			_, err := o.WithDefaults()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := base().WithDefaults(); err != nil {
		t.Fatalf("a valid setup refused: %v", err)
	}
}
