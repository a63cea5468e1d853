package relay

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/store"
)

// pollMsg is one poll on the wire (relay -> central).
type pollMsg struct {
	ID     string    `json:"id"`
	Host   string    `json:"host"`
	Status string    `json:"status"`
	At     int64     `json:"at"` // unix ms
	Err    string    `json:"err,omitempty"`
	HasM   bool      `json:"has_m,omitempty"`
	CPU    float64   `json:"cpu,omitempty"`
	Mem    float64   `json:"mem,omitempty"`
	Disk   float64   `json:"disk,omitempty"`
	Rows   []metricW `json:"rows,omitempty"`
}

type metricW struct {
	Type     string  `json:"t"`
	Instance string  `json:"i,omitempty"`
	Value    float64 `json:"v"`
	At       int64   `json:"a,omitempty"` // unix ms when not the poll's time
}

// pollID is a poll's idempotency key: the same poll always has the same
// key, whoever sends it again.
func pollID(host string, at time.Time) string {
	return strings.ToLower(host) + "@" + fmt.Sprint(at.UTC().UnixMilli())
}

func encodePoll(r engine.PollRecord) (string, []byte, error) {
	m := pollMsg{ID: pollID(r.Hostname, r.At), Host: r.Hostname, Status: string(r.Status), At: r.At.UTC().UnixMilli(),
		Err: r.LastError, HasM: r.HasMetrics, CPU: r.CPUPct, Mem: r.MemPct, Disk: r.DiskFreePct}
	for _, row := range r.Metrics {
		w := metricW{Type: row.Type, Instance: row.Instance, Value: row.Value}
		if at := row.At.UTC().UnixMilli(); at != m.At && !row.At.IsZero() {
			w.At = at
		}
		m.Rows = append(m.Rows, w)
	}
	b, err := json.Marshal(m)
	return m.ID, b, err
}

func decodePoll(b []byte) (store.RelayPoll, engine.PollRecord, error) {
	var m pollMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return store.RelayPoll{}, engine.PollRecord{}, fmt.Errorf("poll message: %w", err)
	}
	if m.ID == "" || m.Host == "" {
		return store.RelayPoll{}, engine.PollRecord{}, errors.New("poll message: id or host missing")
	}
	at := time.UnixMilli(m.At).UTC()
	p := store.RelayPoll{MsgID: m.ID, Hostname: m.Host, Status: m.Status, At: at, LastError: m.Err,
		HasMetrics: m.HasM, CPUPct: m.CPU, MemPct: m.Mem, DiskFreePct: m.Disk}
	for _, r := range m.Rows {
		rat := at
		if r.At != 0 {
			rat = time.UnixMilli(r.At).UTC()
		}
		p.Metrics = append(p.Metrics, store.Metric{Type: r.Type, Instance: r.Instance, Value: r.Value, At: rat})
	}
	rec := engine.PollRecord{Hostname: m.Host, Status: engine.Status(m.Status), At: at, LastError: m.Err,
		HasMetrics: m.HasM, CPUPct: m.CPU, MemPct: m.Mem, DiskFreePct: m.Disk}
	return p, rec, nil
}

// Command kinds.
const (
	kindPollNow     = "poll.now"     // sweep the site now
	kindDevicesSync = "devices.sync" // the site's device list, as central holds it
)

// command is the signed envelope of a request central sends a relay.
type command struct {
	ID        string          `json:"id"`
	Site      string          `json:"site"`
	Kind      string          `json:"kind"`
	IssuedAt  time.Time       `json:"issued_at"`
	ExpiresAt time.Time       `json:"expires_at"`
	User      string          `json:"user"`
	Role      string          `json:"role"`
	Via       string          `json:"via"`
	Remote    string          `json:"remote_addr,omitempty"`
	Body      json.RawMessage `json:"body,omitempty"`
}

// permissionOf is the permission a command's kind needs, checked again
// at the relay against the role central sent.
func permissionOf(kind string) (engine.Permission, bool) {
	switch kind {
	case kindPollNow:
		return engine.PermDevicesPoll, true
	case kindDevicesSync:
		return engine.PermDevicesTrust, true
	}
	return "", false
}

func sign(key ed25519.PrivateKey, body []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, body))
}

// Why a relay refuses a command.
var (
	errUnsigned   = errors.New("command is not signed")
	errBadSig     = errors.New("command signature does not verify with central's pinned key")
	errOtherSite  = errors.New("command is for another site")
	errExpired    = errors.New("command expired before the relay received it")
	errNotAllowed = errors.New("command's role may not do this")
)

// verify checks a command's signature, site, expiry and role; the
// command is returned only when all hold.
func verify(pub ed25519.PublicKey, site string, body []byte, sig string, now time.Time) (command, error) {
	if sig == "" {
		return command{}, errUnsigned
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || !ed25519.Verify(pub, body, raw) {
		return command{}, errBadSig
	}
	var c command
	if err := json.Unmarshal(body, &c); err != nil {
		return command{}, fmt.Errorf("command: %w", err)
	}
	if !strings.EqualFold(c.Site, site) {
		return c, errOtherSite
	}
	if !c.ExpiresAt.IsZero() && now.After(c.ExpiresAt) {
		return c, errExpired
	}
	perm, ok := permissionOf(c.Kind)
	if !ok {
		return c, fmt.Errorf("command kind %q is unknown to this relay", c.Kind)
	}
	role, err := engine.ParseRole(c.Role)
	if err != nil || !role.Can(perm) {
		return c, errNotAllowed
	}
	return c, nil
}
