// Package config owns rmm's configuration file: its defaults, loading,
// and validation with errors that name the file, line and key. It knows
// nothing of the engine or the console; main turns a Config into their
// options.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rmmhq/rmm/engine/alerting"
	"go.yaml.in/yaml/v3"
)

// Config is the effective configuration. Default() gives a complete one;
// a file only overrides what it names.
type Config struct {
	Org       string          // shown in the console header
	Engine    EngineConfig    // polling
	WinRM     WinRMConfig     // the WinRM client
	Sessions  SessionsConfig  // the WinRM session pool
	Store     StoreConfig     // the database
	Retention RetentionConfig // how long data is kept
	Schedules SchedulesConfig // when recurring work runs
	Security  SecurityConfig  // credentials
	SSH       SSHConfig       // rmm serve --ssh
	Log       LogConfig       // the log file
	UI        UIConfig        // the console
	Users     []User          // who may use rmm; empty: the local OS user is Admin

	Thresholds  ThresholdsConfig       // alert thresholds, with group and device overrides
	Alerts      AlertsConfig           // the alert lifecycle
	Health      alerting.HealthWeights // health score weights (the `health:` section), summing to 100
	Actions     ActionsConfig          // remote actions and the offline queue
	Maintenance []MaintenanceWindow    // maintenance_windows: no alerts raised inside, restarts for updates allowed
	Patches     PatchesConfig          // patch management (patches.go)

	Notifications NotificationsConfig // where alert changes are sent (channels, routes, the outbox)
	Reports       ReportsConfig       // reports: where they are written, the SLA target
	Collections   map[string]string   // collections: name -> filter expression (engine/filter)
}

// SessionsConfig is the `sessions:` section.
type SessionsConfig struct {
	TTL         time.Duration // sessions.ttl: idle shells are deleted after this
	PerHost     int           // sessions.per_host: shells per host, 1..10
	MaxCommands int           // sessions.max_commands: a shell is replaced after this many commands
	// LoopOff lists the devices that never run the resident PowerShell
	// loop (sessions.loop_off): hostnames, tag:NAME, site:NAME, or * for
	// all.
	LoopOff []string
}

// RetentionConfig is the `retention:` section.
type RetentionConfig struct {
	Metrics time.Duration // retention.metrics: metric rows kept this long
	Data    time.Duration // retention.data: resolved alerts and audit rows kept this long
	Archive time.Duration // retention.archive: archive files kept this long
	// Rollups: daily metric aggregates kept this long; RollupsHourly:
	// hourly ones (reports use hourly where they still exist).
	Rollups       time.Duration // retention.rollups
	RollupsHourly time.Duration // retention.rollups_hourly
}

// SchedulesConfig is the `schedules:` section: each a schedule.Spec text.
// Availability and metrics are not here: both are the sweep, which runs
// every engine.poll_interval.
type SchedulesConfig struct {
	TimeZone    string // schedules.timezone: IANA name or "Local"
	Inventory   string
	Security    string
	PatchScan   string
	Cleanup     string
	Maintenance string
	Rollups     string            // schedules.rollups: metric rollups catch up
	Reports     []ScheduledReport // schedules.reports: reports written and mailed on a schedule
}

// SecurityConfig is the `security:` section.
type SecurityConfig struct {
	CredentialMaxAge time.Duration // security.credential_max_age: rotation reminder age
	Backend          string        // security.credentials: auto, keyring or vault
	VaultFile        string        // security.vault_file
}

// SSHConfig is the `ssh:` section.
type SSHConfig struct {
	Listen      string        // ssh.listen: address for rmm serve --ssh
	HostKey     string        // ssh.host_key: generated on first start
	ExportsDir  string        // ssh.exports_dir: SSH users' exports, one directory each
	IdleTimeout time.Duration // ssh.idle_timeout
	MaxSessions int           // ssh.max_sessions
}

// User is one entry of `users:`.
type User struct {
	Name string
	Role string   // admin, operator or viewer
	Keys []string // SSH public keys in authorized_keys format
	Line int      // where the entry starts in the file (0 for none)
}

// DefaultMemoryLimitMB is engine.memory_limit_mb's default (see
// engine.DefaultMemoryLimitMB, which must stay equal).
const DefaultMemoryLimitMB = 200

// EngineConfig is the `engine:` section.
type EngineConfig struct {
	Throttle      int           // engine.throttle: requests in flight, 1..1000
	PollInterval  time.Duration // engine.poll_interval: time between sweeps
	MemoryLimitMB int           // engine.memory_limit_mb: the console's soft memory limit in MiB, 0: Go's defaults
}

// WinRMConfig is the `winrm:` section.
type WinRMConfig struct {
	Timeout        time.Duration // winrm.timeout: deadline of one command
	Retries        int           // winrm.retries: retries of a transient failure, 0..10
	CABundle       string        // winrm.ca_bundle: PEM file of CAs trusted for HTTPS endpoints; "": the system's
	Krb5Conf       string        // winrm.krb5_conf: an optional krb5.conf; "": /etc/krb5.conf when present
	KerberosRealm  string        // winrm.kerberos_realm: the realm of user names that name none
	KerberosCCache string        // winrm.kerberos_ccache: a ticket cache used instead of the password
	// KerberosKDC is winrm.kerberos_kdc: "host[:port], REALM=host[:port]"
	// (ParseKDCs reads it); KerberosRealmMap is winrm.kerberos_realm_map:
	// "DOMAIN=REALM, dns.suffix=REALM" (ParseRealmMap).
	KerberosKDC      string
	KerberosRealmMap string
}

// StoreConfig is the `store:` section.
type StoreConfig struct {
	DB            string        // store.db: path of the SQLite file
	ArchiveDir    string        // store.archive_dir: compressed archives of old rows
	BatchRows     int           // store.batch_rows: rows per write transaction
	FlushInterval time.Duration // store.flush_interval: longest wait before a partial batch is written
}

// LogConfig is the `log:` section.
type LogConfig struct {
	Level      string // log.level: debug, info, warn, error
	File       string // log.file: path of the log file
	Format     string // log.format: text or json
	MaxSizeMB  int    // log.max_size_mb: rotate when the file reaches this size
	MaxBackups int    // log.max_backups: rotated files kept (gzip)
}

// UIConfig is the `ui:` section.
type UIConfig struct {
	Theme string              // ui.theme: default, light, high-contrast, ascii; empty = automatic
	Views map[string]string   // ui.views: saved views, name -> filter expression
	Keys  map[string][]string // ui.keys: action -> keys, overriding the defaults
}

// Themes lists the valid ui.theme values (empty means automatic).
var themes = []string{"default", "light", "high-contrast", "ascii"}

const day = 24 * time.Hour

var levels = []string{"debug", "info", "warn", "error"}

// Dirs are the XDG base directories the defaults derive from.
type Dirs struct {
	Config string // e.g. ~/.config/rmm
	Data   string // e.g. ~/.local/share/rmm
	State  string // e.g. ~/.local/state/rmm
}

// DefaultDirs resolves the XDG directories from the environment.
func DefaultDirs(getenv func(string) string) (Dirs, error) {
	home := getenv("HOME")
	base := func(env, rel string) (string, error) {
		if v := getenv(env); v != "" && filepath.IsAbs(v) {
			return filepath.Join(v, "rmm"), nil
		}
		if home == "" {
			return "", fmt.Errorf("neither $%s nor $HOME is set", env)
		}
		return filepath.Join(home, rel, "rmm"), nil
	}
	var d Dirs
	var err error
	if d.Config, err = base("XDG_CONFIG_HOME", ".config"); err != nil {
		return d, err
	}
	if d.Data, err = base("XDG_DATA_HOME", filepath.Join(".local", "share")); err != nil {
		return d, err
	}
	if d.State, err = base("XDG_STATE_HOME", filepath.Join(".local", "state")); err != nil {
		return d, err
	}
	return d, nil
}

// Default returns the built-in configuration for the given directories.
func Default(d Dirs) Config {
	return Config{
		Org:      "rmm",
		Engine:   EngineConfig{Throttle: 50, PollInterval: 5 * time.Minute, MemoryLimitMB: DefaultMemoryLimitMB},
		WinRM:    WinRMConfig{Timeout: 30 * time.Second, Retries: 3},
		Sessions: SessionsConfig{TTL: 5 * time.Minute, PerHost: 2, MaxCommands: 1000},
		Store: StoreConfig{
			DB:            filepath.Join(d.Data, "rmm.db"),
			ArchiveDir:    filepath.Join(d.Data, "archive"),
			BatchRows:     100,
			FlushInterval: time.Second,
		},
		Retention: RetentionConfig{Metrics: 7 * day, Data: 90 * day, Archive: 730 * day, Rollups: 395 * day, RollupsHourly: 62 * day},
		Schedules: SchedulesConfig{
			TimeZone:    "Local",
			Inventory:   "daily 02:00",
			Security:    "daily 04:00",
			PatchScan:   "daily 03:00",
			Cleanup:     "daily 05:00",
			Maintenance: "weekly sun 03:00",
			Rollups:     "every 15m",
		},
		Security: SecurityConfig{CredentialMaxAge: 90 * day, Backend: "auto", VaultFile: filepath.Join(d.Data, "vault.age")},
		SSH: SSHConfig{Listen: "127.0.0.1:2222", HostKey: filepath.Join(d.Data, "ssh_host_ed25519_key"),
			ExportsDir:  filepath.Join(d.Data, "exports"),
			IdleTimeout: 30 * time.Minute, MaxSessions: 10},
		Thresholds: ThresholdsConfig{Defaults: alerting.DefaultThresholds()},
		Alerts:     AlertsConfig{DedupWindow: 5 * time.Minute, OfflineAfter: 2},
		Health:     alerting.DefaultHealthWeights(),
		Actions:    ActionsConfig{QueueExpiry: 7 * day, OutputMaxBytes: 65536, WOLAddress: "255.255.255.255:9", Retries: 3},
		Patches:    defaultPatches(),
		Log:        LogConfig{Level: "info", File: filepath.Join(d.State, "logs", "rmm.log"), Format: "text", MaxSizeMB: 20, MaxBackups: 5},
		UI:         UIConfig{},
		Notifications: NotificationsConfig{MaxAge: day, Attempts: 10, Backoff: 30 * time.Second, MaxBackoff: time.Hour,
			Keep: 30 * day},
		Reports: ReportsConfig{Dir: filepath.Join(d.Data, "reports"), SLATarget: 99.5},
	}
}

// Problem is one validation error, located in the file.
type Problem struct {
	File string
	Line int
	Key  string // dotted path, e.g. "engine.throttle"
	Msg  string
}

func (p Problem) Error() string {
	loc := p.File
	if p.Line > 0 {
		loc += ":" + strconv.Itoa(p.Line)
	}
	if p.Key == "" {
		return loc + ": " + p.Msg
	}
	return loc + ": " + p.Key + ": " + p.Msg
}

// Problems is every problem found in a file.
type Problems []Problem

func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Error()
	}
	return strings.Join(s, "\n")
}

// Load reads the file at path over the defaults. A missing file is not an
// error when optional is true (no file is needed to run).
func Load(path string, d Dirs, optional bool) (Config, error) {
	cfg := Default(d)
	data, err := os.ReadFile(path)
	if err != nil {
		if optional && errors.Is(err, os.ErrNotExist) {
			return cfg, nil
		}
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return Parse(path, data, d)
}

// Parse validates a YAML document over the defaults. Every problem is
// reported, each with its line and key; on any problem the returned
// Config is the defaults, never a half-applied mix.
func Parse(name string, data []byte, d Dirs) (Config, error) {
	def := Default(d)
	cfg := def
	if len(bytes.TrimSpace(data)) == 0 {
		return cfg, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return def, Problems{{File: name, Line: yamlErrLine(err), Msg: "not valid YAML: " + yamlErrMsg(err)}}
	}
	if len(doc.Content) == 0 {
		return cfg, nil
	}
	root := doc.Content[0]
	var ps Problems
	if root.Kind != yaml.MappingNode {
		return def, Problems{{File: name, Line: root.Line, Msg: "the top level must be a mapping of keys"}}
	}
	walk(name, "", root, &cfg, d, &ps)
	if h := cfg.Health; h.Availability+h.Performance+h.Security+h.Compliance != 100 {
		ps = append(ps, Problem{File: name, Line: lineOf(root, "health"), Key: "health", Msg: fmt.Sprintf(
			"the weights add up to %d; they must add up to 100", h.Availability+h.Performance+h.Security+h.Compliance)})
	}
	if len(ps) == 0 {
		validateAlerting(name, root, &cfg, &ps)
		validateNotify(name, root, &cfg, &ps)
		validatePatches(name, root, &cfg, &ps)
	}
	if len(ps) > 0 {
		return def, ps
	}
	return cfg, nil
}

// lineOf is the line of a key of a mapping node (nil: none), or 0.
func lineOf(root *yaml.Node, key string) int {
	if root == nil {
		return 0
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == key {
			return root.Content[i].Line
		}
	}
	return 0
}

// Equal reports whether two configs are the same.
func (c Config) Equal(o Config) bool { return reflect.DeepEqual(c, o) }

// walk applies a mapping node's keys, recursing into sections.
func walk(file, prefix string, m *yaml.Node, cfg *Config, d Dirs, ps *Problems) {
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		key := k.Value
		if prefix != "" {
			key = prefix + "." + k.Value
		}
		if line, dup := seen[k.Value]; dup {
			*ps = append(*ps, Problem{file, k.Line, key, fmt.Sprintf("duplicate key (first on line %d)", line)})
			continue
		}
		seen[k.Value] = k.Line
		if _, isSection := sections[key]; isSection {
			if v.Kind != yaml.MappingNode {
				if v.Tag == "!!null" {
					continue
				}
				*ps = append(*ps, Problem{file, v.Line, key, "must be a mapping (a section of keys)"})
				continue
			}
			walk(file, key, v, cfg, d, ps)
			continue
		}
		if sp, ok := specials[key]; ok {
			sp(file, key, v, cfg, ps)
			continue
		}
		f, ok := fields[key]
		if !ok {
			*ps = append(*ps, Problem{file, k.Line, key, "unknown key" + suggest(key)})
			continue
		}
		if v.Kind != yaml.ScalarNode {
			*ps = append(*ps, Problem{file, v.Line, key, "must be a single value"})
			continue
		}
		if err := f.set(cfg, v.Value, d); err != nil {
			*ps = append(*ps, Problem{file, v.Line, key, err.Error()})
		}
	}
}

func suggest(key string) string {
	var close []string
	for k := range fields {
		if strings.HasSuffix(k, "."+lastPart(key)) || strings.HasPrefix(k, key) {
			close = append(close, k)
		}
	}
	slices.Sort(close)
	if len(close) == 0 {
		return fmt.Sprintf(" (valid keys: %s)", strings.Join(Keys(), ", "))
	}
	return fmt.Sprintf(" (did you mean %s?)", strings.Join(close, " or "))
}

func lastPart(k string) string {
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		return k[i+1:]
	}
	return k
}

func yamlErrLine(err error) int {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if i := strings.Index(msg, "line "); i >= 0 {
		rest := msg[i+5:]
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if n, err := strconv.Atoi(rest[:j]); err == nil {
			return n
		}
	}
	return 0
}

func yamlErrMsg(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if i := strings.Index(msg, "line "); i == 0 {
		if j := strings.Index(msg, ": "); j > 0 {
			msg = msg[j+2:]
		}
	}
	return msg
}
