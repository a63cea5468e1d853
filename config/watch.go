package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Change is one key whose effective value changed in a reload.
type Change struct {
	Key           string
	Old, New      string
	RestartNeeded bool // the running process keeps the old value until restarted
}

func (c Change) String() string {
	s := fmt.Sprintf("%s: %s -> %s", c.Key, quoteEmpty(c.Old), quoteEmpty(c.New))
	if c.RestartNeeded {
		s += " (takes effect after a restart)"
	}
	return s
}

func quoteEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// restartKeys cannot change under a running process: the database and the
// log file are opened once, and the session pool is built once with its
// shell lifetime and per-host limit (its shells, their resident PowerShell
// and the hosts' shell quota are sized by them; a new pool would mean
// closing every warm shell of the fleet at once).
var restartKeys = map[string]bool{
	"store.db": true, "log.file": true, "log.format": true,
	"sessions.ttl": true, "sessions.per_host": true, "sessions.max_commands": true, "sessions.loop_off": true,
	"schedules.reports": true, // the scheduler's jobs are built at start
}

// Diff lists the keys whose values differ between two configs, sorted.
func Diff(old, new Config) []Change {
	var out []Change
	for _, k := range Keys() {
		if a, b := old.Value(k), new.Value(k); a != b {
			out = append(out, Change{Key: k, Old: a, New: b, RestartNeeded: restartKeys[k]})
		}
	}
	return out
}

// Reload is what a Watcher reports after the file changed on disk.
type Reload struct {
	Config  Config   // the config now in effect (the old one when Err is set)
	Changes []Change // what changed; empty when the edit changed nothing effective
	Err     error    // the new file was rejected (Problems with lines); the running config stays
}

// Watcher reloads the config file when it changes. It watches the
// directory, not the file, so editors that save by writing a new file and
// renaming it over the old one (vim, most IDEs) are seen too.
type Watcher struct {
	path    string
	dirs    Dirs
	fs      *fsnotify.Watcher
	reloads chan Reload
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once

	mu      sync.Mutex
	current Config
}

// debounce lets an editor finish a save (truncate+write, or write+rename)
// before the file is read.
const debounce = 150 * time.Millisecond

// Watch starts watching path; current is the config in effect now. Read
// Reloads; call Close to stop.
func Watch(path string, dirs Dirs, current Config) (*Watcher, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("watch config %s: %w", path, err)
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch config %s: %w", path, err)
	}
	dir := filepath.Dir(abs)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		fsw.Close()
		return nil, fmt.Errorf("watch config %s: %w", path, err)
	}
	if err := fsw.Add(dir); err != nil {
		fsw.Close()
		return nil, fmt.Errorf("watch config directory %s: %w", dir, err)
	}
	w := &Watcher{path: abs, dirs: dirs, fs: fsw, reloads: make(chan Reload, 8), stop: make(chan struct{}), current: current}
	w.wg.Add(1)
	go w.loop()
	return w, nil
}

// Reloads delivers one Reload per settled change of the file. It is
// closed by Close.
func (w *Watcher) Reloads() <-chan Reload { return w.reloads }

// Current returns the config in effect.
func (w *Watcher) Current() Config {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.current
}

// Close stops watching and waits for the watcher's goroutine.
func (w *Watcher) Close() error {
	var err error
	w.once.Do(func() {
		close(w.stop)
		err = w.fs.Close()
		w.wg.Wait()
		close(w.reloads)
	})
	return err
}

func (w *Watcher) loop() {
	defer w.wg.Done()
	var timer *time.Timer
	var fire <-chan time.Time
	for {
		select {
		case <-w.stop:
			if timer != nil {
				timer.Stop()
			}
			return
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			if filepath.Clean(ev.Name) != w.path {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(debounce)
			} else {
				timer.Reset(debounce)
			}
			fire = timer.C
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			w.send(Reload{Config: w.Current(), Err: fmt.Errorf("watch config %s: %w", w.path, err)})
		case <-fire:
			fire = nil
			w.reload()
		}
	}
}

func (w *Watcher) reload() {
	cfg, err := Load(w.path, w.dirs, false)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("config %s was removed; keeping the running config", w.path)
		}
		w.send(Reload{Config: w.Current(), Err: err})
		return
	}
	w.mu.Lock()
	changes := Diff(w.current, cfg)
	// Keys that need a restart keep their running value, so Current
	// stays what the process actually uses.
	for _, c := range changes {
		if c.RestartNeeded {
			restore(&cfg, w.current, c.Key)
		}
	}
	w.current = cfg
	w.mu.Unlock()
	if len(changes) == 0 {
		return
	}
	slices.SortFunc(changes, func(a, b Change) int {
		if a.Key < b.Key {
			return -1
		}
		return 1
	})
	w.send(Reload{Config: cfg, Changes: changes})
}

func restore(dst *Config, from Config, key string) {
	switch key {
	case "store.db":
		dst.Store.DB = from.Store.DB
	case "log.file":
		dst.Log.File = from.Log.File
	case "log.format":
		dst.Log.Format = from.Log.Format
	case "sessions.ttl":
		dst.Sessions.TTL = from.Sessions.TTL
	case "sessions.per_host":
		dst.Sessions.PerHost = from.Sessions.PerHost
	case "sessions.max_commands":
		dst.Sessions.MaxCommands = from.Sessions.MaxCommands
	case "sessions.loop_off":
		dst.Sessions.LoopOff = from.Sessions.LoopOff
	case "schedules.reports":
		dst.Schedules.Reports = from.Schedules.Reports
	}
}

func (w *Watcher) send(r Reload) {
	select {
	case w.reloads <- r:
	case <-w.stop:
	}
}
