package config

import (
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rmmhq/rmm/schedule"
)

// field is one settable key: how to parse and check its value.
type field struct {
	def  string // the default, as documented
	doc  string
	set  func(c *Config, v string, d Dirs) error
	show func(c Config) string
}

// sections are the keys that hold other keys.
var sections = map[string]struct{}{
	"engine": {}, "winrm": {}, "sessions": {}, "store": {}, "retention": {}, "schedules": {},
	"security": {}, "ssh": {}, "log": {}, "ui": {}, "alerts": {}, "health": {}, "actions": {}, "patches": {},
	"notifications": {}, "reports": {},
}

// fields maps every key to its parser (patches.go's keys included). It is
// built once and never changed.
var fields = withFields(patchFields, map[string]field{
	"org": {def: "rmm", doc: "name shown in the console header",
		set:  func(c *Config, v string, _ Dirs) error { return nonEmpty(v, &c.Org) },
		show: func(c Config) string { return c.Org }},
	"engine.throttle": {def: "50", doc: "WinRM requests in flight at once, 1..1000",
		set:  func(c *Config, v string, _ Dirs) error { return intIn(v, 1, 1000, &c.Engine.Throttle) },
		show: func(c Config) string { return strconv.Itoa(c.Engine.Throttle) }},
	"engine.poll_interval": {def: "5m", doc: "time between the starts of two sweeps (availability and metrics), 10s..24h",
		set: func(c *Config, v string, _ Dirs) error {
			return durationIn(v, 10*time.Second, 24*time.Hour, &c.Engine.PollInterval)
		},
		show: func(c Config) string { return c.Engine.PollInterval.String() }},
	"engine.memory_limit_mb": {def: "200", doc: "soft memory limit of a process running the engine, in MiB (Go GC: GOGC 400 under it); 0: Go's defaults; GOGC or GOMEMLIMIT in the environment win; 0 or 64..65536",
		set: func(c *Config, v string, _ Dirs) error {
			if strings.TrimSpace(v) == "0" {
				c.Engine.MemoryLimitMB = 0
				return nil
			}
			return intIn(v, 64, 65536, &c.Engine.MemoryLimitMB)
		},
		show: func(c Config) string { return strconv.Itoa(c.Engine.MemoryLimitMB) }},
	"winrm.timeout": {def: "30s", doc: "deadline of one WinRM command, 1s..10m",
		set: func(c *Config, v string, _ Dirs) error {
			return durationIn(v, time.Second, 10*time.Minute, &c.WinRM.Timeout)
		},
		show: func(c Config) string { return c.WinRM.Timeout.String() }},
	"winrm.retries": {def: "3", doc: "retries of a transient failure (timeout, reset, HTTP 5xx), 0..10",
		set:  func(c *Config, v string, _ Dirs) error { return intIn(v, 0, 10, &c.WinRM.Retries) },
		show: func(c Config) string { return strconv.Itoa(c.WinRM.Retries) }},
	"winrm.ca_bundle": {def: "(none)", doc: "PEM file of the CAs trusted for HTTPS endpoints without a CABundle of their own; empty: the system trust store",
		set:  func(c *Config, v string, d Dirs) error { return optionalPath(v, &c.WinRM.CABundle) },
		show: func(c Config) string { return c.WinRM.CABundle }},
	"winrm.krb5_conf": {def: "(/etc/krb5.conf when present)", doc: "a krb5.conf naming realms and KDCs for auth kerberos and negotiate; optional: winrm.kerberos_kdc or DNS SRV records do without",
		set:  func(c *Config, v string, d Dirs) error { return optionalPath(v, &c.WinRM.Krb5Conf) },
		show: func(c Config) string { return c.WinRM.Krb5Conf }},
	"winrm.kerberos_kdc": {def: "(krb5.conf, else DNS SRV)", doc: "KDCs (domain controllers), host[:port] separated by commas; REALM=host[:port] for one realm's",
		set: func(c *Config, v string, _ Dirs) error {
			if _, err := ParseKDCs(v); err != nil {
				return err
			}
			c.WinRM.KerberosKDC = strings.TrimSpace(v)
			return nil
		},
		show: func(c Config) string { return c.WinRM.KerberosKDC }},
	"winrm.kerberos_realm_map": {def: "(none)", doc: "realms of NetBIOS domains (CONTOSO=CONTOSO.COM, for DOMAIN\\user) and DNS suffixes (corp.contoso.com=CONTOSO.COM), separated by commas",
		set: func(c *Config, v string, _ Dirs) error {
			if _, err := ParseRealmMap(v); err != nil {
				return err
			}
			c.WinRM.KerberosRealmMap = strings.TrimSpace(v)
			return nil
		},
		show: func(c Config) string { return c.WinRM.KerberosRealmMap }},
	"winrm.kerberos_realm": {def: "(from the user name)", doc: "Kerberos realm of user names that name none (user@REALM and DOMAIN\\user name theirs)",
		set: func(c *Config, v string, _ Dirs) error {
			c.WinRM.KerberosRealm = strings.ToUpper(strings.TrimSpace(v))
			return nil
		},
		show: func(c Config) string { return c.WinRM.KerberosRealm }},
	"winrm.kerberos_ccache": {def: "(none)", doc: "Kerberos ticket cache used instead of the stored password (e.g. from kinit)",
		set:  func(c *Config, v string, d Dirs) error { return optionalPath(v, &c.WinRM.KerberosCCache) },
		show: func(c Config) string { return c.WinRM.KerberosCCache }},
	"store.db": {def: "~/.local/share/rmm/rmm.db", doc: "the SQLite database file",
		set:  func(c *Config, v string, d Dirs) error { return path(v, &c.Store.DB) },
		show: func(c Config) string { return c.Store.DB }},
	"store.batch_rows": {def: "100", doc: "rows per write transaction, 1..100000",
		set:  func(c *Config, v string, _ Dirs) error { return intIn(v, 1, 100000, &c.Store.BatchRows) },
		show: func(c Config) string { return strconv.Itoa(c.Store.BatchRows) }},
	"store.flush_interval": {def: "1s", doc: "longest wait before a partial batch is written, 10ms..1m",
		set: func(c *Config, v string, _ Dirs) error {
			return durationIn(v, 10*time.Millisecond, time.Minute, &c.Store.FlushInterval)
		},
		show: func(c Config) string { return c.Store.FlushInterval.String() }},
	"log.level": {def: "info", doc: "debug, info, warn or error",
		set:  func(c *Config, v string, _ Dirs) error { return oneOf(v, levels, &c.Log.Level) },
		show: func(c Config) string { return c.Log.Level }},
	"log.file": {def: "~/.local/state/rmm/logs/rmm.log", doc: "the log file",
		set:  func(c *Config, v string, d Dirs) error { return path(v, &c.Log.File) },
		show: func(c Config) string { return c.Log.File }},
	"log.max_size_mb": {def: "20", doc: "the log is rotated when it reaches this size, 1..1024 MB",
		set:  func(c *Config, v string, _ Dirs) error { return intIn(v, 1, 1024, &c.Log.MaxSizeMB) },
		show: func(c Config) string { return strconv.Itoa(c.Log.MaxSizeMB) }},
	"log.max_backups": {def: "5", doc: "rotated log files kept (gzip-compressed), 0..100",
		set:  func(c *Config, v string, _ Dirs) error { return intIn(v, 0, 100, &c.Log.MaxBackups) },
		show: func(c Config) string { return strconv.Itoa(c.Log.MaxBackups) }},
	"log.format": {def: "text", doc: "text or json",
		set:  func(c *Config, v string, _ Dirs) error { return oneOf(v, []string{"text", "json"}, &c.Log.Format) },
		show: func(c Config) string { return c.Log.Format }},
	"ui.theme": {def: "(automatic)", doc: "default, light, high-contrast or ascii; empty picks ascii when the locale is not UTF-8",
		set: func(c *Config, v string, _ Dirs) error {
			if v == "" {
				c.UI.Theme = ""
				return nil
			}
			return oneOf(v, themes, &c.UI.Theme)
		},
		show: func(c Config) string { return c.UI.Theme }},
	"sessions.ttl": {def: "5m", doc: "idle WinRM shells are deleted after this, 10s..24h",
		set: func(c *Config, v string, _ Dirs) error {
			return durationIn(v, 10*time.Second, 24*time.Hour, &c.Sessions.TTL)
		},
		show: func(c Config) string { return c.Sessions.TTL.String() }},
	"sessions.per_host": {def: "2", doc: "WinRM shells per host, 1..10 (Windows allows 30 per user)",
		set:  func(c *Config, v string, _ Dirs) error { return intIn(v, 1, 10, &c.Sessions.PerHost) },
		show: func(c Config) string { return strconv.Itoa(c.Sessions.PerHost) }},
	"sessions.max_commands": {def: "1000", doc: "a WinRM shell is deleted and replaced after this many commands, 1..100000 (Windows counts each against MaxConcurrentOperationsPerUser, 1500, until the shell is deleted; 15 on WinRM 2.0)",
		set:  func(c *Config, v string, _ Dirs) error { return intIn(v, 1, 100000, &c.Sessions.MaxCommands) },
		show: func(c Config) string { return strconv.Itoa(c.Sessions.MaxCommands) }},
	"sessions.loop_off": {def: "(none)", doc: "devices that never run the resident PowerShell loop (one powershell.exe per request, for an EDR that forbids a long-lived one): a list of hostnames, tag:NAME, site:NAME, or * for every device",
		set: func(c *Config, v string, _ Dirs) error {
			list, err := loopOffList(strings.FieldsFunc(v, func(r rune) bool { return r == ',' }))
			if err != nil {
				return err
			}
			c.Sessions.LoopOff = list
			return nil
		},
		show: func(c Config) string { return strings.Join(c.Sessions.LoopOff, ", ") }},
	"store.archive_dir": {def: "~/.local/share/rmm/archive", doc: "compressed archives of rows past retention",
		set:  func(c *Config, v string, d Dirs) error { return path(v, &c.Store.ArchiveDir) },
		show: func(c Config) string { return c.Store.ArchiveDir }},
	"retention.metrics": {def: "7d", doc: "metric rows older than this are archived, then deleted; 1h..3650d",
		set: func(c *Config, v string, _ Dirs) error {
			return longDurationIn(v, time.Hour, 3650*day, &c.Retention.Metrics)
		},
		show: func(c Config) string { return showDays(c.Retention.Metrics) }},
	"retention.data": {def: "90d", doc: "resolved alerts and audit rows older than this are archived, then deleted; 1d..3650d",
		set:  func(c *Config, v string, _ Dirs) error { return longDurationIn(v, day, 3650*day, &c.Retention.Data) },
		show: func(c Config) string { return showDays(c.Retention.Data) }},
	"retention.archive": {def: "730d", doc: "archive files older than this are removed; 1d..36500d",
		set: func(c *Config, v string, _ Dirs) error {
			return longDurationIn(v, day, 36500*day, &c.Retention.Archive)
		},
		show: func(c Config) string { return showDays(c.Retention.Archive) }},
	"schedules.timezone": {def: "Local", doc: "time zone of daily and weekly schedules: an IANA name (Europe/Berlin) or Local",
		set: func(c *Config, v string, _ Dirs) error {
			if _, err := time.LoadLocation(v); err != nil {
				return fmt.Errorf("%q is not a time zone (IANA names like Europe/Berlin, or Local)", v)
			}
			c.Schedules.TimeZone = v
			return nil
		},
		show: func(c Config) string { return c.Schedules.TimeZone }},
	"schedules.inventory":   scheduleField("daily 02:00", "full inventory", func(c *Config) *string { return &c.Schedules.Inventory }),
	"schedules.security":    scheduleField("daily 04:00", "security scan", func(c *Config) *string { return &c.Schedules.Security }),
	"schedules.patch_scan":  scheduleField("daily 03:00", "Windows Update scans (missing and installed updates)", func(c *Config) *string { return &c.Schedules.PatchScan }),
	"schedules.cleanup":     scheduleField("daily 05:00", "retention: archive and delete old rows", func(c *Config) *string { return &c.Schedules.Cleanup }),
	"schedules.maintenance": scheduleField("weekly sun 03:00", "database maintenance (integrity check, VACUUM, ANALYZE)", func(c *Config) *string { return &c.Schedules.Maintenance }),
	"security.credential_max_age": {def: "90d", doc: "credentials older than this raise a rotation reminder; 1d..3650d",
		set: func(c *Config, v string, _ Dirs) error {
			return longDurationIn(v, day, 3650*day, &c.Security.CredentialMaxAge)
		},
		show: func(c Config) string { return showDays(c.Security.CredentialMaxAge) }},
	"security.credentials": {def: "auto", doc: "where credentials live: auto (keyring when one works, else the vault), keyring or vault",
		set: func(c *Config, v string, _ Dirs) error {
			return oneOf(v, []string{"auto", "keyring", "vault"}, &c.Security.Backend)
		},
		show: func(c Config) string { return c.Security.Backend }},
	"security.vault_file": {def: "~/.local/share/rmm/vault.age", doc: "the encrypted vault file (filippo.io/age), mode 0600",
		set:  func(c *Config, v string, d Dirs) error { return path(v, &c.Security.VaultFile) },
		show: func(c Config) string { return c.Security.VaultFile }},
	"ssh.listen": {def: "127.0.0.1:2222", doc: "address of rmm serve --ssh; listening beyond loopback is an explicit choice",
		set: func(c *Config, v string, _ Dirs) error {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("%q is not HOST:PORT", v)
			}
			c.SSH.Listen = v
			return nil
		},
		show: func(c Config) string { return c.SSH.Listen }},
	"ssh.host_key": {def: "~/.local/share/rmm/ssh_host_ed25519_key", doc: "the SSH host key, generated on first start",
		set:  func(c *Config, v string, d Dirs) error { return path(v, &c.SSH.HostKey) },
		show: func(c Config) string { return c.SSH.HostKey }},
	"ssh.exports_dir": {def: "~/.local/share/rmm/exports", doc: "SSH users' exports, one directory per user (mode 0700), fetched with scp",
		set:  func(c *Config, v string, d Dirs) error { return path(v, &c.SSH.ExportsDir) },
		show: func(c Config) string { return c.SSH.ExportsDir }},
	"ssh.idle_timeout": {def: "30m", doc: "an idle SSH session is closed after this, 1m..24h",
		set: func(c *Config, v string, _ Dirs) error {
			return durationIn(v, time.Minute, 24*time.Hour, &c.SSH.IdleTimeout)
		},
		show: func(c Config) string { return c.SSH.IdleTimeout.String() }},
	"ssh.max_sessions": {def: "10", doc: "SSH sessions at once, 1..200",
		set:  func(c *Config, v string, _ Dirs) error { return intIn(v, 1, 200, &c.SSH.MaxSessions) },
		show: func(c Config) string { return strconv.Itoa(c.SSH.MaxSessions) }},
	"ui.views": {def: "(none)", doc: "saved console views: name: filter expression",
		show: func(c Config) string { return showMap(c.UI.Views) }},
	"ui.keys": {def: "(built in)", doc: "key overrides: action: [keys]",
		show: func(c Config) string { return showKeys(c.UI.Keys) }},
	"alerts.dedup_window": {def: "5m", doc: "the same alert back within this after it was resolved reopens it; 0..24h",
		set: func(c *Config, v string, _ Dirs) error {
			return longDurationIn(v, 0, day, &c.Alerts.DedupWindow)
		},
		show: func(c Config) string { return c.Alerts.DedupWindow.String() }},
	"alerts.offline_after": {def: "2", doc: "failed polls in a row before a device raises its offline alert, 1..100",
		set:  func(c *Config, v string, _ Dirs) error { return intIn(v, 1, 100, &c.Alerts.OfflineAfter) },
		show: func(c Config) string { return strconv.Itoa(c.Alerts.OfflineAfter) }},
	"health.availability": weightField("availability", func(c *Config) *int { return &c.Health.Availability }),
	"health.performance":  weightField("performance", func(c *Config) *int { return &c.Health.Performance }),
	"health.security":     weightField("security", func(c *Config) *int { return &c.Health.Security }),
	"health.compliance":   weightField("compliance", func(c *Config) *int { return &c.Health.Compliance }),
	"actions.queue_expiry": {def: "7d", doc: "how long an action for an offline device waits in the offline queue before it expires; 1m..365d (per run: --expiry)",
		set: func(c *Config, v string, _ Dirs) error {
			return longDurationIn(v, time.Minute, 365*day, &c.Actions.QueueExpiry)
		},
		show: func(c Config) string { return showDays(c.Actions.QueueExpiry) }},
	"actions.output_max_bytes": {def: "65536", doc: "stdout and stderr kept per device and action; more is cut with a marker; 1024..10485760",
		set:  func(c *Config, v string, _ Dirs) error { return intIn(v, 1024, 10<<20, &c.Actions.OutputMaxBytes) },
		show: func(c Config) string { return strconv.Itoa(c.Actions.OutputMaxBytes) }},
	"actions.wol_address": {def: "255.255.255.255:9", doc: "IP:port (UDP) that Wake-on-LAN magic packets are sent to: a broadcast address of the devices' LAN, or a relay",
		set: func(c *Config, v string, _ Dirs) error {
			host, port, err := net.SplitHostPort(strings.TrimSpace(v))
			if err != nil || net.ParseIP(host) == nil {
				return fmt.Errorf("%q is not IP:port (example: 192.168.1.255:9)", v)
			}
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("%q: port must be 1..65535", v)
			}
			c.Actions.WOLAddress = strings.TrimSpace(v)
			return nil
		},
		show: func(c Config) string { return c.Actions.WOLAddress }},
	"actions.retries": {def: "3", doc: "retries of an action's transient failure (timeout before it ran, reset, HTTP 5xx), with backoff; 0..10",
		set:  func(c *Config, v string, _ Dirs) error { return intIn(v, 0, 10, &c.Actions.Retries) },
		show: func(c Config) string { return strconv.Itoa(c.Actions.Retries) }},
	"thresholds": {def: "(see the README)", doc: "alert thresholds: cpu_warning 80, cpu_critical 95, cpu_sustain 5m, memory_* the same, disk_used_warning 80, disk_used_critical 90, pending_reboot 7d, signature_age 3d, updates_max_age 30d, watched_services []; groups: and devices: override",
		show: func(c Config) string { return showThresholds(c.Thresholds) }},
	"maintenance_windows": {def: "(none)", doc: "[{name, group|device, every: \"Sat 22:00 + 4h\" | start, end}]: no alerts raised inside",
		show: func(c Config) string { return fmt.Sprintf("%d windows", len(c.Maintenance)) }},
	"retention.rollups": {def: "395d", doc: "daily metric rollups (availability, CPU, memory, disk) older than this are deleted; reports reach back this far; 1d..3650d",
		set:  func(c *Config, v string, _ Dirs) error { return longDurationIn(v, day, 3650*day, &c.Retention.Rollups) },
		show: func(c Config) string { return showDays(c.Retention.Rollups) }},
	"retention.rollups_hourly": {def: "62d", doc: "hourly metric rollups older than this are deleted (reports older than this use daily ones, whole UTC days); 1d..3650d",
		set: func(c *Config, v string, _ Dirs) error {
			return longDurationIn(v, day, 3650*day, &c.Retention.RollupsHourly)
		},
		show: func(c Config) string { return showDays(c.Retention.RollupsHourly) }},
	"schedules.rollups": scheduleField("every 15m", "metric rollups catch up (hourly and daily aggregates for reports)", func(c *Config) *string { return &c.Schedules.Rollups }),
	"schedules.reports": {def: "(none)", doc: "[{name, type, when: monthly 1 06:00, format, route, site|group, period}]: reports written and mailed through a route; takes effect after a restart",
		show: func(c Config) string { return showScheduledReports(c.Schedules.Reports) }},
	"notifications.max_age": {def: "24h", doc: "an alert change older than this when rmm first sees it (rmm was not running) is not sent; 1m..30d",
		set: func(c *Config, v string, _ Dirs) error {
			return longDurationIn(v, time.Minute, 30*day, &c.Notifications.MaxAge)
		},
		show: func(c Config) string { return showDays(c.Notifications.MaxAge) }},
	"notifications.attempts": {def: "10", doc: "deliveries tried before a message is given up as failed, 1..100",
		set:  func(c *Config, v string, _ Dirs) error { return intIn(v, 1, 100, &c.Notifications.Attempts) },
		show: func(c Config) string { return strconv.Itoa(c.Notifications.Attempts) }},
	"notifications.backoff": {def: "30s", doc: "pause before the first retry; it doubles after each failure; 1s..1h",
		set: func(c *Config, v string, _ Dirs) error {
			return durationIn(v, time.Second, time.Hour, &c.Notifications.Backoff)
		},
		show: func(c Config) string { return c.Notifications.Backoff.String() }},
	"notifications.max_backoff": {def: "1h", doc: "the longest pause between retries; 1s..24h",
		set: func(c *Config, v string, _ Dirs) error {
			return durationIn(v, time.Second, 24*time.Hour, &c.Notifications.MaxBackoff)
		},
		show: func(c Config) string { return c.Notifications.MaxBackoff.String() }},
	"notifications.keep": {def: "30d", doc: "sent, failed and suppressed messages stay in the outbox this long; 1d..3650d",
		set: func(c *Config, v string, _ Dirs) error {
			return longDurationIn(v, day, 3650*day, &c.Notifications.Keep)
		},
		show: func(c Config) string { return showDays(c.Notifications.Keep) }},
	"notifications.channels": {def: "(none)", doc: "NAME: {type: email|teams|slack|pagerduty|webhook, ...}; secrets: rmm notify secret NAME",
		show: func(c Config) string { return showChannels(c.Notifications.Channels) }},
	"notifications.routes": {def: "(none)", doc: "[{name, match: {severity, type, site, group, tag}, channels, repeat, digest, on_resolve, on_ack, quiet_hours}]",
		show: func(c Config) string { return showRoutes(c.Notifications.Routes) }},
	"reports.dir": {def: "~/.local/share/rmm/reports", doc: "where scheduled and mailed reports are written (mode 0600 files)",
		set:  func(c *Config, v string, d Dirs) error { return path(v, &c.Reports.Dir) },
		show: func(c Config) string { return c.Reports.Dir }},
	"reports.sla_target": {def: "99.5", doc: "availability % a device or site must reach to meet its SLA in the uptime report, 0..100",
		set: func(c *Config, v string, _ Dirs) error {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 100 {
				return fmt.Errorf("%q is not a percentage 0..100", v)
			}
			c.Reports.SLATarget = f
			return nil
		},
		show: func(c Config) string { return strconv.FormatFloat(c.Reports.SLATarget, 'f', -1, 64) }},
	"collections": {def: "(none)", doc: "saved device collections: name: filter expression (inventory terms allowed, e.g. software:zoom software.version<5.17); they win over stored ones of the same name",
		show: func(c Config) string { return showMap(c.Collections) }},
	"users": {def: "(none: the local OS user is Admin)", doc: "users: [{name, role: admin|operator|viewer, keys: [ssh public keys]}]",
		show: func(c Config) string { return showUsers(c.Users) }},
})

// withFields adds more keys to a key table.
func withFields(more, fs map[string]field) map[string]field {
	maps.Copy(fs, more)
	return fs
}

// loopOffList checks the entries of sessions.loop_off: hostnames,
// tag:NAME, site:NAME or *.
func loopOffList(items []string) ([]string, error) {
	out := []string{}
	for _, it := range items {
		it = strings.TrimSpace(it)
		if it == "" {
			continue
		}
		name := it
		if k, v, ok := strings.Cut(it, ":"); ok {
			if k != "tag" && k != "site" {
				return nil, fmt.Errorf("%q: want a hostname, tag:NAME, site:NAME or *", it)
			}
			name = v
		}
		if name == "" || it != "*" && strings.ContainsAny(name, " \t*?") {
			return nil, fmt.Errorf("%q: want a hostname, tag:NAME, site:NAME or *", it)
		}
		out = append(out, it)
	}
	return out, nil
}

// Keys lists every key, sorted.
func Keys() []string {
	ks := make([]string, 0, len(fields))
	for k := range fields {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// KeyDoc describes a key for help and docs: its default and meaning.
func KeyDoc(key string) (def, doc string, ok bool) {
	f, ok := fields[key]
	return f.def, f.doc, ok
}

// Value returns the effective value of key in c, as text.
func (c Config) Value(key string) string {
	if f, ok := fields[key]; ok {
		return f.show(c)
	}
	return ""
}

func nonEmpty(v string, dst *string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("must not be empty")
	}
	*dst = v
	return nil
}

func intIn(v string, lo, hi int, dst *int) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%q is not a whole number (allowed: %d..%d)", v, lo, hi)
	}
	if n < lo || n > hi {
		return fmt.Errorf("%d is out of range %d..%d", n, lo, hi)
	}
	*dst = n
	return nil
}

func durationIn(v string, lo, hi time.Duration, dst *time.Duration) error {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%q is not a duration (examples: 30s, 5m, 1h)", v)
	}
	if d < lo || d > hi {
		return fmt.Errorf("%s is out of range %s..%s", d, lo, hi)
	}
	*dst = d
	return nil
}

func oneOf(v string, allowed []string, dst *string) error {
	if !slices.Contains(allowed, v) {
		return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
	}
	*dst = v
	return nil
}

// path expands a leading ~/ and requires an absolute result.
// optionalPath is path where empty means "not set".
func optionalPath(v string, dst *string) error {
	if strings.TrimSpace(v) == "" {
		*dst = ""
		return nil
	}
	return path(v, dst)
}

func path(v string, dst *string) error {
	v = strings.TrimSpace(v)
	if v == "" {
		return fmt.Errorf("must not be empty")
	}
	if strings.HasPrefix(v, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("cannot expand ~: %w", err)
		}
		v = filepath.Join(home, v[2:])
	}
	if !filepath.IsAbs(v) {
		return fmt.Errorf("%q must be an absolute path (or start with ~/)", v)
	}
	*dst = filepath.Clean(v)
	return nil
}

func scheduleField(def, what string, dst func(*Config) *string) field {
	return field{def: def, doc: "when " + what + " run: every DURATION, daily HH:MM, weekly DAY HH:MM or monthly DAY HH:MM",
		set: func(c *Config, v string, _ Dirs) error {
			sp, err := schedule.Parse(v)
			if err != nil {
				return fmt.Errorf("%q is not a schedule (examples: every 5m, daily 02:00, weekly sun 03:00)", v)
			}
			*dst(c) = sp.String()
			return nil
		},
		show: func(c Config) string { return *dst(&c) }}
}

// longDurationIn accepts Go durations and whole days ("7d").
func longDurationIn(v string, lo, hi time.Duration, dst *time.Duration) error {
	v = strings.TrimSpace(v)
	var d time.Duration
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return fmt.Errorf("%q is not a duration (examples: 7d, 90d, 12h)", v)
		}
		d = time.Duration(days) * day
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return fmt.Errorf("%q is not a duration (examples: 7d, 90d, 12h)", v)
		}
	}
	if d < lo || d > hi {
		return fmt.Errorf("%s is out of range %s..%s", showDays(d), showDays(lo), showDays(hi))
	}
	*dst = d
	return nil
}

func showDays(d time.Duration) string {
	if d >= day && d%day == 0 {
		return strconv.Itoa(int(d/day)) + "d"
	}
	return d.String()
}

func showMap(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	ks := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, "; ")
}

func showKeys(m map[string][]string) string {
	if len(m) == 0 {
		return ""
	}
	ks := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = k + "=" + strings.Join(m[k], ",")
	}
	return strings.Join(parts, "; ")
}

func showUsers(us []User) string {
	parts := make([]string, len(us))
	for i, u := range us {
		parts[i] = fmt.Sprintf("%s (%s, %d keys)", u.Name, u.Role, len(u.Keys))
	}
	return strings.Join(parts, "; ")
}

func weightField(part string, dst func(*Config) *int) field {
	return field{def: "25", doc: "health score points for " + part + "; the four weights add up to 100",
		set:  func(c *Config, v string, _ Dirs) error { return intIn(v, 0, 100, dst(c)) },
		show: func(c Config) string { return strconv.Itoa(*dst(&c)) }}
}

func showThresholds(t ThresholdsConfig) string {
	d := t.Defaults
	s := fmt.Sprintf("cpu %g/%g for %s, memory %g/%g for %s, disk used %g/%g, pending reboot %s, signatures %s",
		d.CPUWarning, d.CPUCritical, d.CPUSustain, d.MemWarning, d.MemCritical, d.MemSustain, d.DiskWarning, d.DiskCritical,
		showDays(d.PendingReboot), showDays(d.SignatureAge))
	if len(d.WatchedServices) > 0 {
		s += ", watched " + strings.Join(d.WatchedServices, ",")
	}
	if n := len(t.Groups) + len(t.Devices); n > 0 {
		s += fmt.Sprintf("; %d group and %d device overrides", len(t.Groups), len(t.Devices))
	}
	return s
}

// ActionsConfig is the `actions:` section: remote actions and the offline
// queue.
type ActionsConfig struct {
	QueueExpiry    time.Duration // actions.queue_expiry
	OutputMaxBytes int           // actions.output_max_bytes
	WOLAddress     string        // actions.wol_address
	Retries        int           // actions.retries
}

// ParseKDCs reads winrm.kerberos_kdc: KDCs separated by commas, each
// host or host:port, optionally REALM=host[:port] for one realm's. The
// map's key "" holds the KDCs for every realm without its own.
func ParseKDCs(v string) (map[string][]string, error) {
	out := map[string][]string{}
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		realm, addr, ok := strings.Cut(item, "=")
		if !ok {
			realm, addr = "", item
		}
		realm, addr = strings.ToUpper(strings.TrimSpace(realm)), strings.TrimSpace(addr)
		if ok && (realm == "" || strings.ContainsAny(realm, " @/\\")) {
			return nil, fmt.Errorf("%q: the realm before = must be a realm like CONTOSO.COM", item)
		}
		host := addr
		if h, port, err := net.SplitHostPort(addr); err == nil {
			host = h
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("%q: port %q is not 1..65535", item, port)
			}
		}
		if host == "" || strings.ContainsAny(host, " /@") {
			return nil, fmt.Errorf("%q: want host or host:port", item)
		}
		out[realm] = append(out[realm], addr)
	}
	return out, nil
}

// ParseRealmMap reads winrm.kerberos_realm_map: NAME=REALM pairs
// separated by commas, NAME a NetBIOS domain or a DNS suffix.
func ParseRealmMap(v string) (map[string]string, error) {
	out := map[string]string{}
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, realm, ok := strings.Cut(item, "=")
		name, realm = strings.TrimSpace(name), strings.ToUpper(strings.TrimSpace(realm))
		if !ok || name == "" || realm == "" || strings.ContainsAny(name+realm, " @/\\") {
			return nil, fmt.Errorf("%q: want DOMAIN=REALM or dns.suffix=REALM", item)
		}
		out[name] = realm
	}
	return out, nil
}
