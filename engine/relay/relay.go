package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/store"
)

// Defaults of a relay's outbox.
const (
	outboxAckWait         = 10 * time.Second
	DefaultOutboxMaxBytes = 2 << 30 // 2 GiB, then the oldest results are dropped
	DefaultOutboxMaxAge   = 14 * 24 * time.Hour
)

// Options configure a site relay.
type Options struct {
	Creds          Creds
	HubURL         string    // overrides Creds.Hub
	DB             *store.DB // the relay's own SQLite (its site's devices only)
	Engine         engine.Options
	StoreDir       string      // JetStream's files: the outbox
	TLS            *tls.Config // for a tls:// hub (its RootCAs); nil: the system's roots
	Logger         *slog.Logger
	OutboxMaxBytes int64         // default DefaultOutboxMaxBytes
	OutboxMaxAge   time.Duration // default DefaultOutboxMaxAge
}

// Relay is one site's relay: a NATS leaf node that dials the hub, and an
// engine polling the site's devices. Start it with Start, run it with
// Run, stop it with Close.
type Relay struct {
	opts Options
	site string
	log  *slog.Logger
	pub  ed25519.PublicKey
	srv  *server.Server
	nc   *nats.Conn
	js   jetstream.JetStream // local: the outbox
	hjs  jetstream.JetStream // the hub's domain: the site's commands
	eng  *engine.Engine

	done chan struct{}
	wg   sync.WaitGroup

	published   atomic.Int64
	publishErrs atomic.Int64
	executed    atomic.Int64
	refused     atomic.Int64
}

// Stats counts what a relay sent and ran.
type Stats struct {
	Site        string `json:"site"`
	Connected   bool   `json:"connected"`
	Published   int64  `json:"published"`      // polls put in the outbox
	PublishErrs int64  `json:"publish_errors"` // polls the outbox refused (logged)
	Outbox      uint64 `json:"outbox"`         // polls waiting for central
	Executed    int64  `json:"executed"`       // commands run
	Refused     int64  `json:"refused"`        // commands refused (signature, site, expiry, role)
}

// Start starts the leaf node (which dials the hub and retries while the
// link is down), the outbox, the engine over opts.DB and the command
// loop.
func Start(ctx context.Context, opts Options) (*Relay, error) {
	if err := opts.Creds.validate(); err != nil {
		return nil, fmt.Errorf("relay: credentials: %w", err)
	}
	if opts.DB == nil || opts.StoreDir == "" {
		return nil, errors.New("relay: DB and StoreDir are required")
	}
	hub := opts.HubURL
	if hub == "" {
		hub = opts.Creds.Hub
	}
	u, err := hubURL(hub)
	if err != nil {
		return nil, fmt.Errorf("relay: hub: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.OutboxMaxBytes <= 0 {
		opts.OutboxMaxBytes = DefaultOutboxMaxBytes
	}
	if opts.OutboxMaxAge <= 0 {
		opts.OutboxMaxAge = DefaultOutboxMaxAge
	}
	pub, _ := opts.Creds.centralKey()
	site := opts.Creds.Site
	u.User = url.UserPassword(opts.Creds.User, opts.Creds.Password)
	remote := &server.RemoteLeafOpts{URLs: []*url.URL{u}}
	if u.Scheme == "tls" {
		remote.TLS = true
		remote.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if opts.TLS != nil {
			remote.TLSConfig = opts.TLS.Clone()
		}
		if remote.TLSConfig.ServerName == "" {
			remote.TLSConfig.ServerName = u.Hostname()
		}
	}
	r := &Relay{opts: opts, site: site, log: opts.Logger, pub: pub, done: make(chan struct{})}
	r.srv, err = startServer(&server.Options{
		ServerName:      "rmm-relay-" + token(site),
		DontListen:      true, // no inbound port at all: the leaf only dials out
		JetStream:       true,
		JetStreamDomain: siteDomain(site),
		StoreDir:        opts.StoreDir,
		LeafNode:        server.LeafNodeOpts{Remotes: []*server.RemoteLeafOpts{remote}, ReconnectInterval: time.Second},
	}, opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	if err := r.open(ctx); err != nil {
		r.shutdown()
		return nil, fmt.Errorf("relay: %w", err)
	}
	eopts := opts.Engine
	eopts.OnPoll = r.publish
	r.eng, err = engine.New(ctx, opts.DB, eopts)
	if err != nil {
		r.shutdown()
		return nil, fmt.Errorf("relay: %w", err)
	}
	r.wg.Add(1)
	go func() { defer r.wg.Done(); r.commands() }()
	return r, nil
}

func (r *Relay) open(ctx context.Context) error {
	var err error
	r.nc, err = nats.Connect("", nats.InProcessServer(r.srv), nats.Name("rmm relay "+r.site), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if r.js, err = jetstream.New(r.nc); err != nil {
		return err
	}
	if _, err := r.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: outboxStream, Subjects: []string{"rmm.evt." + token(r.site) + ".>"}, Storage: jetstream.FileStorage,
		Retention: jetstream.WorkQueuePolicy, // a result is gone once central acknowledged it
		MaxBytes:  r.opts.OutboxMaxBytes, MaxAge: r.opts.OutboxMaxAge, Discard: jetstream.DiscardOld,
		Duplicates: 10 * time.Minute,
	}); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if _, err := r.js.CreateOrUpdateConsumer(ctx, outboxStream, jetstream.ConsumerConfig{
		// A batch delivered into a pull request that a cut link orphaned
		// is delivered again after AckWait: short, so a cut costs seconds
		// (central applies a batch well within it; a late ack only means
		// a redelivery, which central's keys skip).
		Durable: centralDurable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: outboxAckWait, MaxAckPending: 10000,
	}); err != nil {
		return fmt.Errorf("outbox consumer: %w", err)
	}
	if r.hjs, err = jetstream.NewWithDomain(r.nc, hubDomain); err != nil {
		return err
	}
	return nil
}

// Engine is the relay's engine (its site's devices).
func (r *Relay) Engine() *engine.Engine { return r.eng }

// Connected reports whether the leaf link to the hub is up.
func (r *Relay) Connected() bool { return r.srv.NumLeafNodes() > 0 }

// Stats returns the relay's counters.
func (r *Relay) Stats() Stats {
	st := Stats{Site: r.site, Connected: r.Connected(), Published: r.published.Load(), PublishErrs: r.publishErrs.Load(),
		Executed: r.executed.Load(), Refused: r.refused.Load()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s, err := r.js.Stream(ctx, outboxStream); err == nil {
		if info, err := s.Info(ctx); err == nil {
			st.Outbox = info.State.Msgs
		}
	}
	return st
}

// Run polls the site every engine poll interval until ctx ends (the
// engine's Run).
func (r *Relay) Run(ctx context.Context) error { return r.eng.Run(ctx) }

// Close stops the command loop, the engine and the leaf node. Results
// not yet taken by central stay in the outbox on disk for the next start.
func (r *Relay) Close() error {
	select {
	case <-r.done:
		return nil
	default:
	}
	close(r.done)
	r.wg.Wait()
	var err error
	if r.eng != nil {
		err = r.eng.Close()
	}
	r.shutdown()
	return err
}

func (r *Relay) shutdown() {
	if r.nc != nil {
		r.nc.Close()
	}
	r.srv.Shutdown()
	r.srv.WaitForShutdown()
}

// publish puts one poll in the outbox (engine.Options.OnPoll). The
// outbox is local, so this works while the link is down.
func (r *Relay) publish(rec engine.PollRecord) {
	if !strings.EqualFold(rec.Site, r.site) {
		return // never happens: the relay's store holds its site only
	}
	id, b, err := encodePoll(rec)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		msg := nats.NewMsg(pollSubject(r.site))
		msg.Data = b
		_, err = r.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id))
		cancel()
	}
	if err != nil {
		r.publishErrs.Add(1)
		r.log.Warn("poll not put in the relay outbox", "host", rec.Hostname, "err", err)
		return
	}
	r.published.Add(1)
}

// commands pulls the site's commands from the hub (through the hub's
// JetStream domain) and runs each, until Close. While the link is down
// every fetch fails at once and is tried again a second later.
func (r *Relay) commands() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-r.done; cancel() }()
	for {
		cons, err := r.hjs.Consumer(ctx, cmdStream, relayDurable)
		if err != nil {
			if !wait(r.done, time.Second) {
				return
			}
			continue
		}
		for {
			batch, err := cons.Fetch(20, jetstream.FetchMaxWait(2*time.Second))
			if err != nil {
				break
			}
			n := 0
			for m := range batch.Messages() {
				n++
				r.handle(ctx, m)
			}
			if ctx.Err() != nil {
				return
			}
			if berr := batch.Error(); n == 0 && berr != nil && !errors.Is(berr, nats.ErrTimeout) && !errors.Is(berr, context.DeadlineExceeded) {
				break
			}
		}
		if !wait(r.done, time.Second) {
			return
		}
	}
}

// handle checks and runs one command, once: it is acknowledged after it
// ran and its id was recorded; a refused command is terminated (never
// delivered again) and logged.
func (r *Relay) handle(ctx context.Context, m jetstream.Msg) {
	c, err := verify(r.pub, r.site, m.Data(), m.Headers().Get(sigHeader), time.Now())
	if err != nil {
		r.refused.Add(1)
		r.log.Warn("command refused", "site", r.site, "id", c.ID, "kind", c.Kind, "user", c.User, "err", err)
		_ = m.Term()
		return
	}
	done, err := r.opts.DB.RelayApplied(ctx, "cmd", c.ID)
	if err != nil {
		_ = m.Nak()
		return
	}
	if done {
		_ = m.Ack() // delivered again after it ran: nothing to do
		return
	}
	role, _ := engine.ParseRole(c.Role)
	id := engine.Identity{User: "central/" + c.User, Role: role, Via: engine.ViaSystem, RemoteAddr: c.Remote}
	if err := r.run(ctx, c, id); err != nil {
		r.log.Warn("command failed", "site", r.site, "kind", c.Kind, "user", c.User, "err", err)
	}
	if _, err := r.opts.DB.MarkApplied(ctx, "cmd", c.ID); err != nil {
		_ = m.Nak()
		return
	}
	r.executed.Add(1)
	_ = m.Ack()
}

func (r *Relay) run(ctx context.Context, c command, id engine.Identity) error {
	switch c.Kind {
	case kindPollNow:
		_, err := engine.Call(ctx, r.eng, id, engine.PollNow{})
		return err
	case kindDevicesSync:
		var list []store.DeviceInput
		if err := json.Unmarshal(c.Body, &list); err != nil {
			return fmt.Errorf("device list: %w", err)
		}
		mine := list[:0]
		for _, d := range list {
			if strings.EqualFold(d.Site, r.site) {
				mine = append(mine, d)
			}
		}
		if len(mine) == 0 {
			return nil
		}
		res, err := engine.Call(ctx, r.eng, id, engine.ImportDevices{Source: "central", Devices: mine})
		if err != nil {
			return err
		}
		if res.Added > 0 {
			// New devices (a relay's first start among them) are polled
			// now, not one poll interval later.
			if _, err := r.eng.Sweep(ctx); err != nil {
				r.log.Warn("sweep after new devices failed", "site", r.site, "err", err)
			}
		}
		return nil
	}
	return fmt.Errorf("command kind %q is unknown", c.Kind)
}
