package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// field is one settable key: how to parse and check its value.
type field struct {
	def  string // the default, as documented
	doc  string
	set  func(c *Config, v string, d Dirs) error
	show func(c Config) string
}

// sections are the keys that hold other keys.
var sections = map[string]struct{}{"engine": {}, "winrm": {}, "store": {}, "log": {}, "ui": {}}

// fields maps every key to its parser. It is built once and never changed.
var fields = map[string]field{
	"org": {def: "rmm", doc: "name shown in the console header",
		set:  func(c *Config, v string, _ Dirs) error { return nonEmpty(v, &c.Org) },
		show: func(c Config) string { return c.Org }},
	"engine.throttle": {def: "50", doc: "WinRM requests in flight at once, 1..1000",
		set:  func(c *Config, v string, _ Dirs) error { return intIn(v, 1, 1000, &c.Engine.Throttle) },
		show: func(c Config) string { return strconv.Itoa(c.Engine.Throttle) }},
	"engine.poll_interval": {def: "5m", doc: "time between the starts of two sweeps, 10s..24h",
		set: func(c *Config, v string, _ Dirs) error {
			return durationIn(v, 10*time.Second, 24*time.Hour, &c.Engine.PollInterval)
		},
		show: func(c Config) string { return c.Engine.PollInterval.String() }},
	"winrm.timeout": {def: "30s", doc: "deadline of one WinRM command, 1s..10m",
		set: func(c *Config, v string, _ Dirs) error {
			return durationIn(v, time.Second, 10*time.Minute, &c.WinRM.Timeout)
		},
		show: func(c Config) string { return c.WinRM.Timeout.String() }},
	"winrm.retries": {def: "3", doc: "retries of a transient failure (timeout, reset, HTTP 5xx), 0..10",
		set:  func(c *Config, v string, _ Dirs) error { return intIn(v, 0, 10, &c.WinRM.Retries) },
		show: func(c Config) string { return strconv.Itoa(c.WinRM.Retries) }},
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
