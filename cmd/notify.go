package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/rmmhq/rmm/config"
	"github.com/rmmhq/rmm/creds"
	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/notify"
	"github.com/rmmhq/rmm/store"
)

// scheduleLocation is schedules.timezone of c.
func scheduleLocation(c config.Config) *time.Location {
	if tz := c.Schedules.TimeZone; tz != "" && tz != "Local" {
		if l, err := time.LoadLocation(tz); err == nil {
			return l
		}
	}
	return time.Local
}

// notifyOptions maps the notifications section of c onto the notifier's
// options (config check has refused what they refuse).
func notifyOptions(c config.Config, file string) (notify.Options, error) {
	o, err := c.Notifications.NotifyOptions(c.Org, scheduleLocation(c))
	if err != nil {
		return o, exitError{2, fmt.Errorf("%s: notifications: %w", file, err)}
	}
	return o, nil
}

// lazySecrets opens the credentials store at the first secret a
// notification needs, without a prompt (keyring, or the vault with
// --identity or RMM_VAULT_PASSPHRASE), and keeps it open. A store that
// does not open is an error of that send, retried later.
type lazySecrets struct {
	open func() (creds.Store, error)
	// vault is the vault file: when the store does not open and no vault
	// file exists, no secret was ever stored, so a channel whose secret is
	// optional (a webhook's HMAC key, SMTP without auth) sends without.
	vault string

	mu sync.Mutex
	s  creds.Store
}

func (l *lazySecrets) Secret(ctx context.Context, name string) (string, string, error) {
	l.mu.Lock()
	if l.s == nil {
		s, err := l.open()
		if err != nil {
			l.mu.Unlock()
			if _, serr := os.Stat(l.vault); l.vault != "" && errors.Is(serr, os.ErrNotExist) {
				return "", "", fmt.Errorf("%s: no credentials store holds secrets here (%v): %w", name, err, notify.ErrNoSecret)
			}
			return "", "", fmt.Errorf("open the credentials store for notification secrets: %w", err)
		}
		l.s = s
	}
	s := l.s
	l.mu.Unlock()
	return engine.CredentialSecrets(s).Secret(ctx, name)
}

func (l *lazySecrets) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s != nil {
		_ = l.s.Close()
		l.s = nil
	}
}

// setupNotify gives eng the notifications of the config in effect, with
// secrets from vault (when the caller opened one) or from the credentials
// store opened when first needed. The returned func releases that store.
func (a *app) setupNotify(eng *engine.Engine, vault creds.Store) (func(), error) {
	o, err := notifyOptions(a.current(), a.configFile())
	if err != nil {
		return func() {}, err
	}
	var sec notify.Secrets
	release := func() {}
	if vault != nil {
		sec = engine.CredentialSecrets(vault)
	} else {
		l := &lazySecrets{open: func() (creds.Store, error) { return a.openCreds(false) }, vault: a.current().Security.VaultFile}
		sec, release = l, l.close
	}
	if err := eng.SetNotify(engine.NotifySetup{Options: o, Secrets: sec, UserAgent: "rmm/" + version}); err != nil {
		release()
		return func() {}, exitError{2, fmt.Errorf("%s: %w", a.configFile(), err)}
	}
	return release, nil
}

// withNotifyEngine runs fn on an engine with notifications set up; the
// credentials store opens (with a passphrase prompt on a terminal) only
// when a channel's secret is needed.
func (a *app) withNotifyEngine(cmd *cobra.Command, prompt bool, fn func(eng *engine.Engine, id engine.Identity) error) error {
	id, err := a.localIdentity(engine.ViaCLI)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	db, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	eng, err := engine.New(ctx, db, a.engineOptions(engine.Credential{}))
	if err != nil {
		return err
	}
	defer eng.Close()
	o, err := notifyOptions(a.current(), a.configFile())
	if err != nil {
		return err
	}
	l := &lazySecrets{open: func() (creds.Store, error) { return a.openCreds(prompt) }, vault: a.current().Security.VaultFile}
	defer l.close()
	if err := eng.SetNotify(engine.NotifySetup{Options: o, Secrets: l, UserAgent: "rmm/" + version}); err != nil {
		return exitError{2, fmt.Errorf("%s: %w", a.configFile(), err)}
	}
	return fn(eng, id)
}

func (a *app) notifyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notify",
		Short: "Notifications: test a channel, show the outbox, store a channel's secret, run a receiver",
		Long: `Alert changes (raised, reopened, escalated, acknowledged, resolved) go out
through the routes and channels of notifications: in the config file: email
(SMTP), Microsoft Teams (Workflows webhook, Adaptive Card), Slack (incoming
webhook), PagerDuty (Events API v2) and a generic JSON webhook signed with
HMAC-SHA256. Every message goes through a durable outbox in the database:
retried with backoff, kept across restarts, each attempt audited
(notify.send). A console or rmm serve sends in the background; rmm poll
--once and rmm notify flush send what is due before they exit.

Secrets never go in the config file: store each channel's with
rmm notify secret CHANNEL (the keyring or vault, as credential notify:CHANNEL).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.notifyTestCommand(), a.notifyOutboxCommand(), a.notifySecretCommand(), a.notifyRetryCommand(),
		a.notifyFlushCommand(), a.notifyReceiveCommand())
	return cmd
}

func (a *app) notifyTestCommand() *cobra.Command {
	var (
		text   string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "test CHANNEL",
		Short: "Send a test message on a channel now and say how it went",
		Long: `Send a test message on CHANNEL now, through the outbox (so it is listed and
audited like every send). PagerDuty gets a trigger of severity info and its
resolve, so no incident stays open. Exit 1 when the channel refused it; the
message then stays in the outbox to be retried (or failed, for a refusal no
retry can fix). Operator or Admin.`,
		Example: `  rmm notify test ops-mail
  rmm notify test teams-ops --text "hello from the new jump host"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withNotifyEngine(cmd, true, func(eng *engine.Engine, id engine.Identity) error {
				res, err := engine.Call(cmd.Context(), eng, id, engine.TestChannel{Channel: args[0], Text: text})
				if asJSON {
					if jerr := writeJSON(a.stdout, res); jerr != nil {
						return jerr
					}
				}
				if err != nil {
					return err
				}
				if !asJSON {
					fmt.Fprintf(a.stdout, "test message sent on %s (outbox id %d)\n", res.Channel, res.OutboxID)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&text, "text", "", "the message's text (default: a line naming you and the time)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print {channel, outbox_id, sent, error}")
	return cmd
}

func (a *app) notifyOutboxCommand() *cobra.Command {
	var (
		asJSON  bool
		states  []string
		channel string
		limit   int
	)
	cmd := &cobra.Command{
		Use:   "outbox",
		Short: "Show the notification outbox: counts by state and the newest messages",
		Long: `Show the outbox: how many messages are held (a digest window, quiet hours),
pending (due, or waiting for a retry), sending, sent, failed (given up),
suppressed (a maintenance window) and merged (sent inside a digest), and
the newest messages with their last error. Any role may look: the outbox
holds no secret.

--json prints {"counts": {state: n}, "messages": [{id, route, channel, kind,
alert_id, state, subject, created_at, next_at, attempts, last_error, sent_at,
merged_into}], "channels": [...], "routes": [...]}.`,
		Example: `  rmm notify outbox
  rmm notify outbox --state failed --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := engine.ListOutbox{States: states, Channel: channel, Limit: limit}
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				o, err := notifyOptions(a.current(), a.configFile())
				if err != nil {
					return err
				}
				if err := eng.SetNotify(engine.NotifySetup{Options: o}); err != nil {
					return err
				}
				v, err := engine.Call(cmd.Context(), eng, id, req)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, v)
				}
				return a.printOutbox(v)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the outbox as JSON")
	cmd.Flags().StringSliceVar(&states, "state", nil, "only these states: held, pending, sending, sent, failed, suppressed, merged")
	cmd.Flags().StringVar(&channel, "channel", "", "only this channel")
	cmd.Flags().IntVar(&limit, "limit", 50, "newest messages shown")
	return cmd
}

func (a *app) printOutbox(v engine.OutboxView) error {
	var parts []string
	for _, s := range []string{store.OutboxHeld, store.OutboxPending, store.OutboxSending, store.OutboxSent, store.OutboxFailed,
		store.OutboxSuppressed, store.OutboxMerged} {
		parts = append(parts, fmt.Sprintf("%d %s", v.Counts[s], s))
	}
	fmt.Fprintf(a.stdout, "outbox: %s\n", strings.Join(parts, ", "))
	if len(v.Routes) == 0 {
		fmt.Fprintln(a.stdout, "no routes are configured: nothing is sent (see notifications: in the README)")
	}
	if len(v.Messages) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tCHANNEL\tROUTE\tKIND\tCREATED\tTRIES\tSUBJECT / LAST ERROR")
	for _, m := range v.Messages {
		what := asciiOnly(m.Subject)
		if m.LastError != "" && m.State != store.OutboxSent {
			what += "  [" + asciiOnly(m.LastError) + "]"
		}
		if m.State == store.OutboxHeld || m.State == store.OutboxPending && m.Attempts > 0 {
			what += "  (next " + m.NextAt.Local().Format("01-02 15:04") + ")"
		}
		route := m.Route
		if route == "" {
			route = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", m.ID, m.State, m.Channel, route, m.Kind,
			m.CreatedAt.Local().Format("01-02 15:04:05"), m.Attempts, what)
	}
	return tw.Flush()
}

func (a *app) notifySecretCommand() *cobra.Command {
	var (
		user      string
		fromStdin bool
	)
	cmd := &cobra.Command{
		Use:   "secret CHANNEL",
		Short: "Store a channel's secret in the keyring or vault (read with no echo, or from stdin)",
		Long: `Store the secret of channel CHANNEL as the credential notify:CHANNEL, in the
OS keyring or the encrypted vault, never in the config file:
  email      the SMTP password (--user: the SMTP user name)
  teams      the Workflows webhook URL ("When a Teams webhook request is received")
  slack      the incoming webhook URL
  pagerduty  the integration (routing) key of an Events API v2 integration
  webhook    the HMAC-SHA256 key that signs each body (X-Rmm-Signature)
Admin only. rmm creds rm notify:CHANNEL removes it.`,
		Example: `  rmm notify secret teams-ops          # paste the Workflows URL at the prompt
  rmm notify secret ops-mail --user rmm@example.com
  printf '%s' "$PD_KEY" | rmm notify secret pager --stdin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := notifyOptions(a.current(), a.configFile())
			if err != nil {
				return err
			}
			ch, ok := o.Channels[args[0]]
			if !ok {
				return exitError{2, fmt.Errorf("no channel %q in notifications.channels of %s", args[0], a.configFile())}
			}
			_, what := ch.SecretRequired()
			if ch.Type == notify.TypeEmail && strings.TrimSpace(user) == "" {
				return exitError{2, errors.New("--user is required for an email channel: the SMTP user name")}
			}
			if user == "" {
				user = string(ch.Type)
			}
			return a.withCredsEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				secret, err := a.readChannelSecret(fromStdin, args[0], what)
				if err != nil {
					return err
				}
				defer secret.Wipe()
				if ch.Type == notify.TypeTeams || ch.Type == notify.TypeSlack {
					if err := notify.CheckURL(secret.Reveal()); err != nil {
						return exitError{2, fmt.Errorf("the %s webhook URL is refused: %w", ch.Type, err)}
					}
				}
				if _, err := engine.Call(cmd.Context(), eng, id, engine.SetCredential{Name: ch.SecretName(), User: user, Secret: secret}); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "secret of channel %s stored as credential %s; try it: rmm notify test %s\n", args[0], ch.SecretName(), args[0])
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "email: the SMTP user name")
	cmd.Flags().BoolVar(&fromStdin, "stdin", false, "read the secret from stdin (one trailing newline removed)")
	return cmd
}

// readChannelSecret reads a secret from stdin or a no-echo prompt.
func (a *app) readChannelSecret(fromStdin bool, channel, what string) (creds.Secret, error) {
	if fromStdin {
		b, err := io.ReadAll(io.LimitReader(a.stdin, 64<<10))
		if err != nil {
			return creds.Secret{}, fmt.Errorf("read the secret from stdin: %w", err)
		}
		b = bytes.TrimSpace(b)
		defer clear(b)
		if len(b) == 0 {
			return creds.Secret{}, exitError{2, errors.New("empty secret on stdin")}
		}
		return creds.SecretFromBytes(b), nil
	}
	tty := a.stdinTerminal()
	if tty == nil {
		return creds.Secret{}, exitError{2, errors.New("stdin is not a terminal: use --stdin")}
	}
	fmt.Fprintf(a.stderr, "%s for channel %s: ", what, channel)
	b, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(a.stderr)
	if err != nil {
		return creds.Secret{}, fmt.Errorf("read the secret: %w", err)
	}
	defer clear(b)
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return creds.Secret{}, exitError{2, errors.New("empty secret")}
	}
	return creds.SecretFromBytes(b), nil
}

func (a *app) notifyRetryCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "retry [ID...]",
		Short: "Queue failed messages again (all of them, or the ids given)",
		Long: `Put failed messages back in the outbox, due now, with their attempts reset:
after fixing a channel's secret or URL. A running console sends them within
seconds; otherwise rmm notify flush does. Operator or Admin.`,
		Example: `  rmm notify retry          # every failed message
  rmm notify retry 41 42`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var ids []int64
			for _, s := range args {
				id, err := strconv.ParseInt(s, 10, 64)
				if err != nil || id <= 0 {
					return exitError{2, fmt.Errorf("%q is not an outbox id", s)}
				}
				ids = append(ids, id)
			}
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				n, err := engine.Call(cmd.Context(), eng, id, engine.RetryOutbox{IDs: ids})
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%d failed messages queued again\n", n)
				return nil
			})
		},
	}
}

func (a *app) notifyFlushCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "flush",
		Short: "Route the alert changes recorded so far and send what is due, now",
		Long: `Run one notifier pass now: route the alert changes recorded since the last
pass, release held messages whose digest window or quiet hours ended, queue
repeats, and send what is due. For a jump host that runs rmm poll --once
from cron (which does this itself) or has no console open.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withNotifyEngine(cmd, false, func(eng *engine.Engine, id engine.Identity) error {
				res, err := engine.Call(cmd.Context(), eng, id, engine.FlushNotifications{})
				if asJSON {
					if jerr := writeJSON(a.stdout, res); jerr != nil {
						return jerr
					}
				} else {
					fmt.Fprintf(a.stdout, "routed %d alert changes; %d sent, %d to retry, %d failed, %d held released, %d repeats, %d suppressed\n",
						res.Routed, res.Sent, res.Retrying, res.Failed, res.Released, res.Repeats, res.Suppressed)
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the pass's counts as JSON")
	return cmd
}

func (a *app) notifyReceiveCommand() *cobra.Command {
	var (
		listen  string
		keyFile string
		fail    int
	)
	cmd := &cobra.Command{
		Use:   "receive",
		Short: "A test receiver on this machine: print every webhook, Teams, Slack or PagerDuty post",
		Long: `Listen on a loopback address and print every POST it gets: the path, rmm's
headers and the JSON body, and whether its X-Rmm-Signature verifies when
--hmac-key-file names the webhook channel's key. Point a channel at it
(url: http://127.0.0.1:9099/... for a webhook or PagerDuty channel, or the
secret of a Teams or Slack channel) to see what rmm sends, for example with
rmm --demo. --fail N answers 503 to the first N posts, to watch the outbox
retry. Only loopback addresses: it is a test tool, not a server.`,
		Example: `  rmm notify receive --listen 127.0.0.1:9099
  rmm notify receive --hmac-key-file ~/hook.key --fail 2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			host, _, err := net.SplitHostPort(listen)
			if err != nil || net.ParseIP(host) == nil || !net.ParseIP(host).IsLoopback() {
				return exitError{2, fmt.Errorf("--listen %q: give a loopback address and port, such as 127.0.0.1:9099", listen)}
			}
			var key []byte
			if keyFile != "" {
				b, err := os.ReadFile(keyFile)
				if err != nil {
					return exitError{2, fmt.Errorf("--hmac-key-file: %w", err)}
				}
				key = bytes.TrimSpace(b)
			}
			l, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "listening on http://%s/ (ctrl-c to stop)\n", l.Addr())
			var mu sync.Mutex
			n := 0
			srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
				mu.Lock()
				defer mu.Unlock()
				n++
				fmt.Fprintf(a.stdout, "--- %s %s %s (%d bytes)\n", time.Now().Format("15:04:05"), r.Method, r.URL.Path, len(body))
				for _, h := range []string{notify.HeaderEvent, notify.HeaderDelivery, notify.HeaderTimestamp, notify.HeaderSignature, "User-Agent"} {
					if v := r.Header.Get(h); v != "" {
						fmt.Fprintf(a.stdout, "%s: %s\n", h, v)
					}
				}
				switch sig := r.Header.Get(notify.HeaderSignature); {
				case key == nil:
				case sig == "":
					fmt.Fprintln(a.stdout, "signature: none (not a signed webhook post)")
				case notify.Verify(key, r.Header.Get(notify.HeaderTimestamp), body, sig):
					fmt.Fprintln(a.stdout, "signature: valid")
				default:
					fmt.Fprintln(a.stdout, "signature: INVALID")
				}
				var pretty bytes.Buffer
				if json.Indent(&pretty, body, "", "  ") == nil {
					body = pretty.Bytes()
				}
				fmt.Fprintln(a.stdout, asciiOnlyLines(string(body)))
				if n <= fail {
					fmt.Fprintf(a.stdout, "(answered 503: --fail %d)\n", fail)
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				w.WriteHeader(http.StatusAccepted)
			})}
			go func() {
				<-cmd.Context().Done()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_ = srv.Shutdown(ctx)
			}()
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:9099", "loopback address to listen on")
	cmd.Flags().StringVar(&keyFile, "hmac-key-file", "", "file holding the webhook channel's HMAC key, to verify X-Rmm-Signature")
	cmd.Flags().IntVar(&fail, "fail", 0, "answer 503 to the first N posts")
	return cmd
}

// asciiOnlyLines is asciiOnly that keeps line breaks.
func asciiOnlyLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = asciiOnly(l)
	}
	return strings.Join(lines, "\n")
}
