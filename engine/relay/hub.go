package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/store"
)

// HubOptions configure central's hub.
type HubOptions struct {
	DB         *store.DB
	Engine     *engine.Engine     // central's engine: relayed sites are left to their relays, their results fed to it
	Listen     string             // the leaf listener, host:port (relay.listen; default 0.0.0.0:7422)
	StoreDir   string             // JetStream's files (commands waiting for a relay)
	SigningKey ed25519.PrivateKey // signs every command (LoadSigningKey)
	TLS        *tls.Config        // the leaf listener's TLS; nil: plain TCP
	Logger     *slog.Logger
	CommandTTL time.Duration // how long a poll-now waits for a cut-off relay (default 10m)
	SyncEvery  time.Duration // how often a site's device list is compared and sent when changed (default 30s)
	// LinkGrace is how long a site's leaf link may be down (or not yet
	// up) before central marks its devices Stale and raises one alert
	// for the site (default 2m).
	LinkGrace time.Duration
}

// Hub is central's side of the relays. Start it with StartHub, stop it
// with Close.
type Hub struct {
	opts  HubOptions
	log   *slog.Logger
	srv   *server.Server
	sites map[string]*hubSite // by lower-case site name; fixed after StartHub

	syncMu sync.Mutex // one SyncDevices at a time (it keeps each site's syncHash)

	done chan struct{}
	wg   sync.WaitGroup
}

type hubSite struct {
	name string
	nc   *nats.Conn
	js   jetstream.JetStream // the hub's own domain: CMD
	rjs  jetstream.JetStream // the relay's domain: its OUTBOX

	syncHash  [32]byte // of the device list last sent
	ingested  atomic.Int64
	dups      atomic.Int64
	foreign   atomic.Int64
	lastBatch atomic.Int64 // unix ms of the last batch applied
}

// HubStats counts what central ingested from one site.
type HubStats struct {
	Site       string    `json:"site"`
	Connected  bool      `json:"connected"`
	Ingested   int64     `json:"ingested"`   // polls applied
	Duplicates int64     `json:"duplicates"` // polls delivered again and skipped
	Foreign    int64     `json:"foreign"`    // polls naming a device not in the site: refused
	LastBatch  time.Time `json:"last_batch"`
}

// StartHub starts the embedded hub for every enrolled site, attaches it
// to the engine (so central stops polling those sites) and starts
// ingesting their results.
func StartHub(ctx context.Context, opts HubOptions) (*Hub, error) {
	if opts.DB == nil || opts.SigningKey == nil || opts.StoreDir == "" {
		return nil, errors.New("relay hub: DB, SigningKey and StoreDir are required")
	}
	if opts.Listen == "" {
		opts.Listen = "0.0.0.0:7422"
	}
	if opts.CommandTTL <= 0 {
		opts.CommandTTL = 10 * time.Minute
	}
	if opts.SyncEvery <= 0 {
		opts.SyncEvery = 30 * time.Second
	}
	if opts.LinkGrace <= 0 {
		opts.LinkGrace = 2 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	host, portS, err := net.SplitHostPort(opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("relay hub: relay.listen %q: %w", opts.Listen, err)
	}
	port, err := strconv.Atoi(portS)
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("relay hub: relay.listen %q: port must be 1..65535", opts.Listen)
	}
	enrolled, err := opts.DB.RelaySites(ctx)
	if err != nil {
		return nil, fmt.Errorf("relay hub: %w", err)
	}

	// Authentication is always on: the central account's user exists
	// even with no site enrolled, so an anonymous leaf is refused. The
	// accounts come from a generated config so that each site account
	// has JetStream from the server's start: a leaf that connects before
	// would not get the site's JetStream domain mapped.
	h := &Hub{opts: opts, log: opts.Logger, sites: make(map[string]*hubSite), done: make(chan struct{})}
	internal := map[string]string{}
	var conf strings.Builder
	conf.WriteString("accounts {\n")
	fmt.Fprintf(&conf, "  CENTRAL: { users: [ {user: %q, password: %q} ] }\n", "central", bcryptSecret(randomSecret()))
	for _, s := range enrolled {
		pass := randomSecret()
		internal[s.Site] = pass
		// A relay never writes a command, not even for its own site.
		fmt.Fprintf(&conf, "  %s: { jetstream: enabled, users: [ {user: %q, password: %q}, {user: %q, password: %q, permissions: { publish: { deny: [\"rmm.cmd.>\"] } } } ] }\n",
			siteAccount(s.Site), "central-"+token(s.Site), bcryptSecret(pass), s.LeafUser, s.PassHash)
	}
	conf.WriteString("}\n")
	sopts := &server.Options{}
	if err := sopts.ProcessConfigString(conf.String()); err != nil {
		return nil, fmt.Errorf("relay hub: accounts: %w", err)
	}
	sopts.ServerName = "rmm-central"
	sopts.DontListen = true // no client port: central's own connections are in-process
	sopts.JetStream = true
	sopts.JetStreamDomain = hubDomain
	sopts.StoreDir = opts.StoreDir
	sopts.LeafNode = server.LeafNodeOpts{
		Host:        host,
		Port:        port,
		NoAdvertise: true, // a leaf must never learn another address to dial around a cut link
		TLSConfig:   opts.TLS,
	}
	if opts.TLS != nil {
		sopts.LeafNode.TLSTimeout = 5
	}
	srv, err := startServer(sopts, opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("relay hub: %w", err)
	}
	h.srv = srv
	for _, s := range enrolled {
		hs, err := h.openSite(ctx, s.Site, internal[s.Site])
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("relay hub: site %s: %w", s.Site, err)
		}
		h.sites[strings.ToLower(s.Site)] = hs
	}
	if opts.Engine != nil {
		opts.Engine.AttachRelays(h)
	}
	for _, hs := range h.sites {
		h.wg.Add(1)
		go func() { defer h.wg.Done(); h.ingest(hs) }()
	}
	h.wg.Add(2)
	go func() { defer h.wg.Done(); h.syncLoop() }()
	go func() { defer h.wg.Done(); h.linkWatch() }()
	return h, nil
}

// bcryptSecret hashes an in-process user's random password at the
// lowest cost (it is 192 random bits; the hash only keeps the server
// from warning about plaintext passwords).
func bcryptSecret(pass string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		return pass
	}
	return string(h)
}

func randomSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (h *Hub) openSite(ctx context.Context, site, pass string) (*hubSite, error) {
	acc, err := h.srv.LookupAccount(siteAccount(site))
	if err != nil {
		return nil, err
	}
	if !acc.JetStreamEnabled() {
		return nil, errors.New("jetstream is not enabled on the site's account")
	}
	nc, err := nats.Connect("", nats.InProcessServer(h.srv), nats.UserInfo("central-"+token(site), pass),
		nats.Name("rmm central "+site), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: cmdStream, Subjects: []string{cmdSubject(site)}, Storage: jetstream.FileStorage,
		MaxAge: 30 * 24 * time.Hour, Duplicates: 24 * time.Hour,
	}); err != nil {
		nc.Close()
		return nil, fmt.Errorf("command stream: %w", err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, cmdStream, jetstream.ConsumerConfig{
		Durable: relayDurable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second,
	}); err != nil {
		nc.Close()
		return nil, fmt.Errorf("command consumer: %w", err)
	}
	rjs, err := jetstream.NewWithDomain(nc, siteDomain(site))
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &hubSite{name: site, nc: nc, js: js, rjs: rjs}, nil
}

// Close stops ingesting and shuts the hub's server down. Results not yet
// ingested stay in the relays' outboxes.
func (h *Hub) Close() error {
	select {
	case <-h.done:
		return nil
	default:
	}
	close(h.done)
	h.wg.Wait()
	if h.opts.Engine != nil {
		h.opts.Engine.AttachRelays(nil)
	}
	for _, s := range h.sites {
		s.nc.Close()
	}
	if h.srv != nil {
		h.srv.Shutdown()
		h.srv.WaitForShutdown()
	}
	return nil
}

// Relayed implements engine.Relays: site has an enrolled relay.
func (h *Hub) Relayed(site string) bool {
	_, ok := h.sites[strings.ToLower(site)]
	return ok
}

// Sites lists the relayed sites with what was ingested from each.
func (h *Hub) Sites() []HubStats {
	connected := h.connected()
	out := make([]HubStats, 0, len(h.sites))
	for _, s := range h.sites {
		st := HubStats{Site: s.name, Connected: connected[siteAccount(s.name)], Ingested: s.ingested.Load(),
			Duplicates: s.dups.Load(), Foreign: s.foreign.Load()}
		if ms := s.lastBatch.Load(); ms > 0 {
			st.LastBatch = time.UnixMilli(ms).UTC()
		}
		out = append(out, st)
	}
	return out
}

// PollNow implements engine.Relays: a signed poll-now command for every
// relayed site. While a relay is cut off it waits in the site's command
// stream, and expires after CommandTTL.
func (h *Hub) PollNow(ctx context.Context, id engine.Identity) error {
	var errs []error
	for _, s := range h.sites {
		if err := h.send(ctx, s, kindPollNow, id, nil, h.opts.CommandTTL); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (h *Hub) send(ctx context.Context, s *hubSite, kind string, id engine.Identity, body any, ttl time.Duration) error {
	now := time.Now().UTC()
	c := command{ID: randomSecret(), Site: s.name, Kind: kind, IssuedAt: now, User: id.User, Role: id.Role.String(),
		Via: string(id.Via), Remote: id.RemoteAddr}
	if ttl > 0 {
		c.ExpiresAt = now.Add(ttl)
	}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("command %s for %s: %w", kind, s.name, err)
		}
		c.Body = b
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("command %s for %s: %w", kind, s.name, err)
	}
	msg := nats.NewMsg(cmdSubject(s.name))
	msg.Data = b
	msg.Header.Set(sigHeader, sign(h.opts.SigningKey, b))
	if _, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(c.ID)); err != nil {
		return fmt.Errorf("command %s for site %s: %w", kind, s.name, err)
	}
	return nil
}

// ingest pulls a relay's outbox through its domain and applies it, until
// the hub closes. While the link is down every fetch fails at once ("no
// responders") and is tried again a second later.
func (h *Hub) ingest(s *hubSite) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-h.done; cancel() }()
	for {
		select {
		case <-h.done:
			return
		default:
		}
		cons, err := s.rjs.Consumer(ctx, outboxStream, centralDurable)
		if err != nil {
			h.log.Debug("relay outbox not reachable", "site", s.name, "err", err)
			if !wait(h.done, time.Second) {
				return
			}
			continue
		}
		for {
			batch, err := cons.Fetch(500, jetstream.FetchMaxWait(time.Second))
			if err != nil {
				h.log.Debug("relay outbox fetch", "site", s.name, "err", err)
				break
			}
			var msgs []jetstream.Msg
			for m := range batch.Messages() {
				msgs = append(msgs, m)
			}
			if len(msgs) > 0 {
				h.apply(ctx, s, msgs)
				continue
			}
			if berr := batch.Error(); berr != nil && !errors.Is(berr, nats.ErrTimeout) && !errors.Is(berr, context.DeadlineExceeded) {
				h.log.Debug("relay outbox fetch", "site", s.name, "err", berr)
				break // the link or the relay went away: look the consumer up again
			}
			if ctx.Err() != nil {
				return
			}
		}
		if !wait(h.done, time.Second) {
			return
		}
	}
}

// apply writes one batch to central's store in one transaction and
// acknowledges its messages only after the commit; a batch that could
// not be written is left to be delivered again (naked), and one that can
// never be read is terminated.
func (h *Hub) apply(ctx context.Context, s *hubSite, msgs []jetstream.Msg) {
	polls := make([]store.RelayPoll, 0, len(msgs))
	recs := make([]engine.PollRecord, 0, len(msgs))
	keep := msgs[:0:0]
	for _, m := range msgs {
		p, r, err := decodePoll(m.Data())
		if err != nil {
			h.log.Warn("relay message refused", "site", s.name, "err", err)
			_ = m.Term()
			continue
		}
		r.Site = s.name
		polls, recs, keep = append(polls, p), append(recs, r), append(keep, m)
	}
	res, err := h.opts.DB.ApplyRelayPolls(context.WithoutCancel(ctx), s.name, polls)
	if err != nil {
		h.log.Warn("relay results not written; they will be delivered again", "site", s.name, "err", err)
		for _, m := range keep {
			_ = m.Nak()
		}
		return
	}
	if h.opts.Engine != nil && len(res.Applied) > 0 {
		ids := make([]int64, len(res.Applied))
		applied := make([]engine.PollRecord, len(res.Applied))
		for i, a := range res.Applied {
			ids[i], applied[i] = a.DeviceID, recs[a.Index]
		}
		h.opts.Engine.ApplyRelayed(ids, applied)
	}
	for _, m := range keep {
		_ = m.Ack()
	}
	s.ingested.Add(int64(len(res.Applied)))
	s.dups.Add(int64(res.Duplicates))
	if res.Foreign > 0 {
		s.foreign.Add(int64(res.Foreign))
		h.log.Warn("relay sent polls of devices that are not in its site: refused", "site", s.name, "polls", res.Foreign)
	}
	s.lastBatch.Store(time.Now().UnixMilli())
}

// linkWatch follows each site's leaf link, until the hub closes: a link
// down (or never up) for LinkGrace marks the site Stale with one alert
// (engine.SetRelayLink); its return clears both.
func (h *Hub) linkWatch() {
	type link struct {
		downSince time.Time // zero while up
		alerted   bool
	}
	start := time.Now()
	links := map[string]*link{}
	for _, s := range h.sites {
		links[s.name] = &link{downSince: start}
	}
	every := min(h.opts.LinkGrace/4, 2*time.Second)
	for {
		connected := h.connected()
		now := time.Now()
		for name, l := range links {
			up := connected[siteAccount(name)]
			switch {
			case up && l.alerted:
				if h.opts.Engine != nil {
					if err := h.opts.Engine.SetRelayLink(context.Background(), name, true, now); err != nil {
						h.log.Warn("relay link alert not resolved", "site", name, "err", err)
						continue
					}
				}
				h.log.Info("relay link back", "site", name, "down", now.Sub(l.downSince).Round(time.Second))
				l.downSince, l.alerted = time.Time{}, false
			case up:
				l.downSince = time.Time{}
			case l.downSince.IsZero():
				l.downSince = now
			case !l.alerted && now.Sub(l.downSince) >= h.opts.LinkGrace:
				h.log.Warn("relay unreachable", "site", name, "since", l.downSince.UTC())
				if h.opts.Engine != nil {
					if err := h.opts.Engine.SetRelayLink(context.Background(), name, false, l.downSince); err != nil {
						h.log.Warn("relay link alert not written", "site", name, "err", err)
						continue
					}
				}
				l.alerted = true
			}
		}
		if !wait(h.done, every) {
			return
		}
	}
}

// connected is the set of site accounts with a leaf link up.
func (h *Hub) connected() map[string]bool {
	out := map[string]bool{}
	if lz, err := h.srv.Leafz(&server.LeafzOptions{}); err == nil {
		for _, l := range lz.Leafs {
			out[l.Account] = true
		}
	}
	return out
}

// syncLoop sends each site's device list when it changed (and once at
// start), until the hub closes.
func (h *Hub) syncLoop() {
	for {
		if err := h.SyncDevices(context.Background()); err != nil {
			h.log.Warn("relay device lists not sent", "err", err)
		}
		if !wait(h.done, h.opts.SyncEvery) {
			return
		}
	}
}

// SyncDevices sends every relayed site whose device list changed since
// the last send its list as central holds it (a signed devices.sync
// command; the relay imports it).
func (h *Hub) SyncDevices(ctx context.Context) error {
	h.syncMu.Lock()
	defer h.syncMu.Unlock()
	devs, err := h.opts.DB.ListDevices(ctx)
	if err != nil {
		return fmt.Errorf("relay device sync: %w", err)
	}
	bySite := map[string][]store.DeviceInput{}
	for _, d := range devs {
		if s, ok := h.sites[strings.ToLower(d.Site)]; ok {
			bySite[s.name] = append(bySite[s.name], inputOf(d))
		}
	}
	system := engine.Identity{User: "central", Role: engine.RoleAdmin, Via: engine.ViaSystem}
	var errs []error
	for _, s := range h.sites {
		list := bySite[s.name]
		if len(list) == 0 {
			continue
		}
		b, err := json.Marshal(list)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		if sum == s.syncHash {
			continue
		}
		if err := h.send(ctx, s, kindDevicesSync, system, json.RawMessage(b), 0); err != nil {
			errs = append(errs, err)
			continue
		}
		s.syncHash = sum
	}
	return errors.Join(errs...)
}

func inputOf(d store.Device) store.DeviceInput {
	skip, unenc, loopOff := d.InsecureSkipVerify, d.AllowUnencrypted, d.LoopOff
	return store.DeviceInput{
		Hostname: d.Hostname, FQDN: d.FQDN, IP: d.IP, MAC: d.MAC, Site: d.Site, Groups: d.Groups,
		OSName: d.OSName, OSVersion: d.OSVersion, Tags: d.Tags, Description: d.Description,
		Port: d.Port, Transport: d.Transport, CredentialID: d.CredentialID, Custom: d.Custom,
		Auth: d.Auth, CABundle: d.CABundle, InsecureSkipVerify: &skip, AllowUnencrypted: &unenc, LoopOff: &loopOff,
	}
}

// Enrolled is the engine.Relays of a process that runs no hub (rmm poll,
// rmm action, a console without relay.listen): the enrolled sites'
// devices are still their relays' and never polled from here.
type Enrolled struct {
	sites map[string]bool
}

// NewEnrolled lists db's enrolled relay sites.
func NewEnrolled(ctx context.Context, db *store.DB) (*Enrolled, error) {
	sites, err := db.RelaySites(ctx)
	if err != nil {
		return nil, err
	}
	e := &Enrolled{sites: map[string]bool{}}
	for _, s := range sites {
		e.sites[strings.ToLower(s.Site)] = true
	}
	return e, nil
}

// Len is the number of enrolled sites.
func (e *Enrolled) Len() int { return len(e.sites) }

// Relayed implements engine.Relays.
func (e *Enrolled) Relayed(site string) bool { return e.sites[strings.ToLower(site)] }

// PollNow implements engine.Relays: nothing to send from a process
// without a hub; the relays sweep on their own schedule (rmm poll
// --once at central sweeps central's own sites only).
func (e *Enrolled) PollNow(context.Context, engine.Identity) error { return nil }
