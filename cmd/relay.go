package cmd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/relay"
	"github.com/rmmhq/rmm/store"
)

// relayNotYet is what the relays do not do yet; the help and the README
// say the same.
const relayNotYet = `Not done yet: actions, inventory collection, schedules, alerts and audit rows
do not cross the link (the relay raises and keeps its own alerts and audit);
the console has no Sites view and shows Stale in the device detail only; no
WebSocket (443) transport; no sync watchdog; a revoked or re-enrolled relay is
refused only after central restarts.`

func (a *app) relayCommand() *cobra.Command {
	var site, hub, credsFile, caFile string
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Run a site relay (NATS leaf node + engine for one site); enroll or list relays",
		Long: `Run a site relay: an embedded NATS leaf node that only dials out to central's
hub (no inbound port on the relay), and the engine polling the devices of its
site from the relay's own database (--db, store.db). Central sends the site's
device list; every poll goes to the relay's outbox (JetStream, on disk) and
reaches central's database once, even across a cut link. Central's poll-now
reaches the relay as a command signed with central's key; the relay runs only
commands that verify with the key in its credentials file.

WinRM credentials are the relay machine's own (RMM_WINRM_USER and
RMM_WINRM_PASSWORD, or rmm creds on the relay); they never cross the link.

On central: set relay.listen (and relay.tls_cert, relay.tls_key off loopback),
enroll the site (rmm relay enroll SITE), restart the console or rmm serve.

` + relayNotYet,
		Example: `  rmm relay enroll branch1 --hub tls://central.example.com:7422   # on central
  rmm relay --creds relay-branch1.creds --ca central-ca.pem        # on the site`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runRelay(cmd.Context(), site, hub, credsFile, caFile)
		},
	}
	cmd.Flags().StringVar(&site, "site", "", "the site this relay serves (must match the credentials file)")
	cmd.Flags().StringVar(&hub, "hub", "", "central's hub address, tls://HOST:PORT (default: the credentials file's)")
	cmd.Flags().StringVar(&credsFile, "creds", "", "the relay's credentials file from rmm relay enroll (required)")
	cmd.Flags().StringVar(&caFile, "ca", "", "PEM file of the CA that signed the hub's certificate (default: the system's)")
	cmd.AddCommand(a.relayEnrollCommand(), a.relayRevokeCommand(), a.relayStatusCommand())
	return cmd
}

func (a *app) runRelay(ctx context.Context, site, hub, credsFile, caFile string) error {
	if credsFile == "" {
		return exitError{2, errors.New("relay: --creds FILE is required (rmm relay enroll SITE on central writes it)")}
	}
	c, err := relay.ReadCreds(credsFile)
	if err != nil {
		return exitError{2, err}
	}
	if site != "" && !strings.EqualFold(site, c.Site) {
		return exitError{2, fmt.Errorf("relay: --site %s, but %s is for site %s", site, credsFile, c.Site)}
	}
	var tlsConf *tls.Config
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return exitError{2, fmt.Errorf("relay: --ca: %w", err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return exitError{2, fmt.Errorf("relay: --ca %s: no PEM certificate in it", caFile)}
		}
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	}
	cred, vault, err := a.pollCredentials()
	if err != nil {
		return err
	}
	if vault != nil {
		defer vault.Close()
	}
	db, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.CheckWritable(ctx); err != nil {
		return err
	}
	a.setMemoryLimit()
	opts := a.engineOptions(cred)
	opts.Credentials = vault
	r, err := relay.Start(ctx, relay.Options{Creds: c, HubURL: hub, DB: db, Engine: opts, TLS: tlsConf,
		StoreDir: filepath.Join(filepath.Dir(a.cfg.Store.DB), "relay-nats"), Logger: a.log})
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.Engine().SetTransportOptions(a.transportOptions()); err != nil {
		return exitError{2, fmt.Errorf("%s: %w", a.configFile(), err)}
	}
	shown := hub
	if shown == "" {
		shown = c.Hub
	}
	fmt.Fprintf(a.stderr, "rmm relay: site %s, dialling %s (outbound only), database %s, polling every %s; Ctrl-C stops\n",
		c.Site, shown, a.cfg.Store.DB, opts.Interval)
	a.log.Info("relay started", "site", c.Site, "hub", shown)
	if err := r.Run(ctx); err != nil {
		return err
	}
	return nil
}

func (a *app) relayEnrollCommand() *cobra.Command {
	var hub, out string
	cmd := &cobra.Command{
		Use:   "enroll SITE",
		Short: "On central: enroll SITE's relay and write its credentials file",
		Long: `Enroll a site relay (Admin; audited as relay.enroll): a new random password for
the relay's NATS leaf user (central keeps its bcrypt hash only), written with
the hub address and central's public command-signing key into a credentials
file, mode 0600. Copy it to the relay machine; it is a secret. Enrolling a
site again replaces its password. Central's hub (the console, rmm serve)
accepts the new credentials from its next start; from then on central leaves
the site's devices to the relay.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			site := args[0]
			if hub == "" {
				hub = a.cfg.Relay.PublicURL
			}
			if hub == "" {
				return exitError{2, errors.New("relay enroll: no hub address: pass --hub tls://HOST:PORT or set relay.public_url")}
			}
			if out == "" {
				out = "relay-" + strings.NewReplacer("/", "_", "\\", "_", " ", "_").Replace(site) + ".creds"
			}
			if _, err := os.Stat(out); err == nil {
				return exitError{2, fmt.Errorf("relay enroll: %s exists; remove it or pass --out", out)}
			}
			id, err := a.localIdentity(engine.ViaCLI)
			if err != nil {
				return err
			}
			key, err := relay.LoadSigningKey(a.relaySigningKey())
			if err != nil {
				return err
			}
			db, eng, err := a.openEngine(ctx, engine.Credential{}, nil, 0)
			if err != nil {
				return err
			}
			defer db.Close()
			defer eng.Close()
			c, err := relay.Enroll(ctx, eng, id, key, site, hub)
			if err != nil {
				return err
			}
			if err := relay.WriteCreds(out, c); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "enrolled site %s: credentials in %s (mode 0600; a secret, copy it to the relay machine)\n", c.Site, out)
			fmt.Fprintf(a.stdout, "restart central (rmm or rmm serve, with relay.listen set) so its hub accepts them\n")
			return nil
		},
	}
	cmd.Flags().StringVar(&hub, "hub", "", "the hub address the relay dials, tls://HOST:PORT (default relay.public_url)")
	cmd.Flags().StringVar(&out, "out", "", "the credentials file to write (default relay-SITE.creds; never replaced)")
	return cmd
}

func (a *app) relayRevokeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke SITE",
		Short: "On central: stop accepting SITE's relay credentials",
		Long: `Revoke a site relay's credentials (Admin; audited as relay.revoke). Central's
hub refuses the relay from its next start (restart the console or rmm serve),
and central polls the site's devices itself again. Results the relay still
holds in its outbox are not taken any more. Enroll the site again to issue new
credentials.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id, err := a.localIdentity(engine.ViaCLI)
			if err != nil {
				return err
			}
			db, eng, err := a.openEngine(ctx, engine.Credential{}, nil, 0)
			if err != nil {
				return err
			}
			defer db.Close()
			defer eng.Close()
			if _, err := engine.Call(ctx, eng, id, engine.RevokeRelay{Site: args[0]}); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "revoked site %s's relay; restart central (rmm or rmm serve) so its hub refuses it\n", args[0])
			return nil
		},
	}
}

// relaySite is one line of rmm relay status.
type relaySite struct {
	Site       string    `json:"site"`
	EnrolledAt time.Time `json:"enrolled_at"`
	Devices    int       `json:"devices"`
	Online     int       `json:"online"`
	LastResult time.Time `json:"last_result"` // the newest poll of its devices central holds; zero: none
}

func (a *app) relayStatusCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "On central: the enrolled relays, their devices and the newest result central holds",
		Long: `List the enrolled site relays from central's database: when each was enrolled,
its devices, how many are Online, and the newest poll central holds from it.
The live link state is known to the running hub only (the console or rmm
serve); this command does not show it yet.

--json prints an array of {site, enrolled_at, devices, online, last_result}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			db, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			sites, err := db.RelaySites(ctx)
			if err != nil {
				return err
			}
			devs, err := db.ListDevices(ctx)
			if err != nil {
				return err
			}
			out := make([]relaySite, 0, len(sites))
			for _, s := range sites {
				rs := relaySite{Site: s.Site, EnrolledAt: s.EnrolledAt}
				for _, d := range devs {
					if !strings.EqualFold(d.Site, s.Site) {
						continue
					}
					rs.Devices++
					if d.Status == store.StatusOnline {
						rs.Online++
					}
					if d.LastSeen.After(rs.LastResult) {
						rs.LastResult = d.LastSeen
					}
				}
				out = append(out, rs)
			}
			if asJSON {
				return writeJSON(a.stdout, out)
			}
			if len(out) == 0 {
				fmt.Fprintln(a.stdout, "no relay enrolled (rmm relay enroll SITE)")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SITE\tENROLLED\tDEVICES\tONLINE\tLAST RESULT")
			for _, s := range out {
				last := "never"
				if !s.LastResult.IsZero() {
					last = s.LastResult.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", s.Site, s.EnrolledAt.UTC().Format(time.RFC3339), s.Devices, s.Online, last)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) relaySigningKey() string {
	return filepath.Join(filepath.Dir(a.cfg.Store.DB), "relay-signing.key")
}

// startRelayHub starts central's relay hub beside a console or rmm serve
// when relay.listen is set and a site is enrolled; nil (and no error)
// otherwise. Off loopback the leaf listener needs TLS.
func (a *app) startRelayHub(ctx context.Context, eng *engine.Engine, db *store.DB) (*relay.Hub, error) {
	rc := a.cfg.Relay
	if rc.Listen == "" {
		return nil, nil
	}
	sites, err := db.RelaySites(ctx)
	if err != nil {
		return nil, err
	}
	if len(sites) == 0 {
		a.log.Info("relay hub not started: no site enrolled (rmm relay enroll SITE)")
		return nil, nil
	}
	var tlsConf *tls.Config
	if rc.TLSCert != "" || rc.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(rc.TLSCert, rc.TLSKey)
		if err != nil {
			return nil, exitError{2, fmt.Errorf("%s: relay.tls_cert, relay.tls_key: %w", a.configFile(), err)}
		}
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	} else if host, _, _ := net.SplitHostPort(rc.Listen); !isLoopbackHost(host) {
		return nil, exitError{2, fmt.Errorf("%s: relay.listen %s is off loopback: set relay.tls_cert and relay.tls_key (the relays' passwords and every result cross that link)",
			a.configFile(), rc.Listen)}
	}
	key, err := relay.LoadSigningKey(a.relaySigningKey())
	if err != nil {
		return nil, err
	}
	h, err := relay.StartHub(ctx, relay.HubOptions{DB: db, Engine: eng, Listen: rc.Listen, TLS: tlsConf, SigningKey: key,
		StoreDir: filepath.Join(filepath.Dir(a.cfg.Store.DB), "relay-hub"), Logger: a.log})
	if err != nil {
		return nil, err
	}
	a.log.Info("relay hub started", "listen", rc.Listen, "sites", len(sites), "tls", tlsConf != nil)
	return h, nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// attachEnrolledRelays leaves the enrolled relay sites' devices to their
// relays in every engine this process opens; a hub started later
// (startRelayHub) takes over.
func (a *app) attachEnrolledRelays(ctx context.Context, eng *engine.Engine, db *store.DB) error {
	en, err := relay.NewEnrolled(ctx, db)
	if err != nil {
		return err
	}
	if en.Len() > 0 {
		eng.AttachRelays(en)
	}
	return nil
}
