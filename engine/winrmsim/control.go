package winrmsim

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The control endpoint lets a test, a demo or a curl drive the simulated
// fleet from outside: take hosts off the network, restart them, switch
// faults, wake them. JSON in and out; `rmm sim --control ADDR` serves it.

// controlRoutes documents the endpoint (GET / returns it).
var controlRoutes = []string{
	"GET  /hosts                       every host: name, port, MAC, online, fault, power",
	"GET  /hosts/{name}                one host with its state: boot time, RDP, sessions, services, files",
	"GET  /hosts/{name}/services       the host's services with their states",
	"GET  /hosts/{name}/updates        the host's Windows Update state: missing, installed, waiting for a restart; its tasks",
	"POST /hosts/{name}/patch-level?behind=N  put the host N (0..2) months behind on its updates",
	"POST /hosts/{name}/offline        take the host off the network (port closed)",
	"POST /hosts/{name}/online         bring it back",
	"POST /hosts/{name}/reboot         restart now: down for the reboot downtime, then back with a new boot time",
	"POST /hosts/{name}/shutdown       power off now; a Wake-on-LAN packet (or /wake) boots it",
	"POST /hosts/{name}/wake           what a magic packet for its MAC does",
	"POST /hosts/{name}/logon          a user logs on (for lock and logoff)",
	"POST /hosts/{name}/fault?kind=K   set a fault: refuse, hang, http500, malformed, no-loop, loop-crash, loop-hang, access-denied, disk-full, task-stuck, none",
	"GET  /wake                        the Wake-on-LAN listener's UDP address and counters",
	"GET  /stats                       the fleet's counters: requests, shells created/open/deleted, loops",
}

// ControlStats is GET /stats: the fleet's totals (Fleet.Stats) as JSON,
// what `rmm bench sweep` reads from a simulator running in a child process.
type ControlStats struct {
	Hosts         int   `json:"hosts"`
	Online        int   `json:"online"`
	Requests      int64 `json:"requests"`    // HTTP requests that reached a host
	Connections   int64 `json:"connections"` // TCP connections the hosts accepted
	ShellsCreated int64 `json:"shells_created"`
	ShellsOpen    int64 `json:"shells_open"` // shells that exist now
	ShellsDeleted int64 `json:"shells_deleted"`
	ShellsDropped int64 `json:"shells_dropped"`
	Commands      int64 `json:"commands"`
	Faults        int64 `json:"faults"`
	AuthFailures  int64 `json:"auth_failures"`
	Sends         int64 `json:"sends"`
	Receives      int64 `json:"receives"`
	LoopStarts    int64 `json:"loop_starts"`
	LoopRequests  int64 `json:"loop_requests"`
	Injected      int64 `json:"injected"`
	// TLS handshakes the hosts completed: full, and resumed from a
	// session a host had issued.
	TLSFullHandshakes int64 `json:"tls_full_handshakes"`
	TLSResumed        int64 `json:"tls_resumed"`
}

// Ready is the JSON object `rmm sim --ready-file FILE` writes, once, when
// every host, the control endpoint and the exported CSV are ready. It is
// the contract between the simulator and a process that starts it as a
// child (`rmm bench sweep`): that process waits for the file to appear,
// then reads the fleet over the control endpoint. The file is written
// atomically (temp file and rename), so a reader never sees half of it.
type Ready struct {
	PID     int    `json:"pid"`     // the simulator's process ID
	Control string `json:"control"` // the control endpoint's URL, "" without --control
	CSV     string `json:"csv"`     // the --export-csv file, "" without it
	Hosts   int    `json:"hosts"`   // how many hosts serve
	Wake    string `json:"wake"`    // the Wake-on-LAN listener (UDP IP:port on loopback)
}

func controlStats(s Stats) ControlStats {
	return ControlStats{
		Hosts: s.Hosts, Online: s.Online, Requests: s.Requests, Connections: s.Connections,
		ShellsCreated: s.ShellsCreated, ShellsOpen: s.ShellsOpen, ShellsDeleted: s.ShellsDeleted, ShellsDropped: s.ShellsDropped,
		Commands: s.Commands, Faults: s.Faults, AuthFailures: s.AuthFailures, Sends: s.Sends, Receives: s.Receives,
		LoopStarts: s.LoopStarts, LoopRequests: s.LoopRequests, Injected: s.Injected,
		TLSFullHandshakes: s.TLSFullHandshakes, TLSResumed: s.TLSResumed,
	}
}

// ControlHost is one host as the control endpoint shows it.
type ControlHost struct {
	Hostname  string   `json:"hostname"`
	IP        string   `json:"ip"`
	Port      int      `json:"port"`
	MAC       string   `json:"mac"`
	Site      string   `json:"site"`
	OSName    string   `json:"os_name"`
	OSVersion string   `json:"os_version"`
	Tags      []string `json:"tags"`
	Server    bool     `json:"server"`
	Online    bool     `json:"online"`
	Fault     string   `json:"fault"`
	Power     string   `json:"power"`   // on, rebooting, shutting-down, off, booting
	Profile   string   `json:"profile"` // the host profile (Profiles)

	// Only in GET /hosts/{name}:
	LastBoot         string   `json:"last_boot,omitempty"`
	RDPEnabled       *bool    `json:"rdp_enabled,omitempty"`
	PendingReboot    string   `json:"pending_reboot,omitempty"`
	Sessions         *int     `json:"sessions,omitempty"`
	Services         int      `json:"services,omitempty"`
	StoppedAutomatic []string `json:"stopped_automatic,omitempty"`
	Files            []string `json:"files,omitempty"`
	RegistryCount    *int     `json:"registry_count,omitempty"`
}

// ControlHandler serves the control routes (see controlRoutes and the
// README). Mount it on a loopback listener only.
func (f *Fleet) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"routes": controlRoutes})
	})
	mux.HandleFunc("GET /hosts", func(w http.ResponseWriter, r *http.Request) {
		out := make([]ControlHost, len(f.hosts))
		for i, h := range f.hosts {
			out[i] = f.controlHost(h, false)
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /hosts/{name}", f.withHost(func(w http.ResponseWriter, r *http.Request, h *host) {
		writeJSON(w, http.StatusOK, f.controlHost(h, true))
	}))
	mux.HandleFunc("GET /hosts/{name}/services", f.withHost(func(w http.ResponseWriter, r *http.Request, h *host) {
		svcs := h.services()
		list := make([]serviceJSON, len(svcs))
		for i, s := range svcs {
			list[i] = serviceJSON{s.Name, s.DisplayName, s.State, s.StartType}
		}
		writeJSON(w, http.StatusOK, list)
	}))
	mux.HandleFunc("GET /hosts/{name}/updates", f.withHost(func(w http.ResponseWriter, r *http.Request, h *host) {
		u, err := f.Updates(h.name)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]any{"ok": false, "error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, u)
	}))
	mux.HandleFunc("POST /hosts/{name}/patch-level", f.withHost(func(w http.ResponseWriter, r *http.Request, h *host) {
		n, err := strconv.Atoi(r.URL.Query().Get("behind"))
		if err == nil {
			err = f.SetPatchLevel(h.name, n)
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": "behind: want 0, 1 or 2 (" + err.Error() + ")"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "host": f.controlHost(h, false)})
	}))
	post := func(verb string, do func(h *host) error) {
		mux.HandleFunc("POST /hosts/{name}/"+verb, f.withHost(func(w http.ResponseWriter, r *http.Request, h *host) {
			if err := do(h); err != nil {
				writeJSON(w, http.StatusConflict, map[string]any{"ok": false, "error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"ok": true, "host": f.controlHost(h, false)})
		}))
	}
	post("offline", func(h *host) error { return f.SetOnline(h.name, false) })
	post("online", func(h *host) error { return f.SetOnline(h.name, true) })
	post("reboot", func(h *host) error {
		if !f.hostOnline(h) {
			return errors.New("host is offline")
		}
		return f.schedulePower(h, time.Now(), powerRebooting)
	})
	post("shutdown", func(h *host) error {
		if !f.hostOnline(h) {
			return errors.New("host is offline")
		}
		return f.schedulePower(h, time.Now(), powerOff)
	})
	post("wake", func(h *host) error {
		if !f.wakeHost(h) {
			return errors.New("host is not off (or is already booting)")
		}
		return nil
	})
	post("logon", func(h *host) error {
		h.hs().mu.Lock()
		defer h.hs().mu.Unlock()
		h.setSessionsLocked(max(1, h.stateLocked().sessions))
		h.hs().locked = false
		return nil
	})
	mux.HandleFunc("POST /hosts/{name}/fault", f.withHost(func(w http.ResponseWriter, r *http.Request, h *host) {
		kind := strings.ToLower(r.URL.Query().Get("kind"))
		if kind == "none" {
			kind = ""
		}
		if _, ok := faultIndex(FaultKind(kind)); !ok {
			writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": "unknown fault kind " + kind + " (want none, " + kindList() + ")"})
			return
		}
		if err := f.SetFault(h.name, FaultKind(kind)); err != nil {
			writeJSON(w, http.StatusConflict, map[string]any{"ok": false, "error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "host": f.controlHost(h, false)})
	}))
	mux.HandleFunc("GET /wake", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, f.Wake())
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, controlStats(f.Stats()))
	})
	return mux
}

// withHost resolves {name} (case-insensitively, as Windows names are).
func (f *Fleet) withHost(fn func(http.ResponseWriter, *http.Request, *host)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		h := f.byName[strings.ToUpper(name)]
		if h == nil {
			h = f.byName[name]
		}
		if h == nil {
			writeJSON(w, http.StatusNotFound, map[string]any{"ok": false, "error": "unknown host " + name})
			return
		}
		fn(w, r, h)
	}
}

func (f *Fleet) hostOnline(h *host) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.online
}

// controlHost describes a host; detail adds its state (built if needed).
func (f *Fleet) controlHost(h *host, detail bool) ControlHost {
	h.mu.Lock()
	hi := h.infoLocked(f.cfg.ListenIP)
	boot := h.lastBoot
	h.mu.Unlock()
	c := ControlHost{
		Hostname: hi.Hostname, IP: hi.IP, Port: hi.Port, MAC: hi.MAC, Site: hi.Site,
		OSName: hi.OSName, OSVersion: hi.OSVersion, Tags: hi.Tags, Server: hi.Server,
		Online: hi.Online, Fault: string(hi.Fault), Power: h.powerNow().String(), Profile: hi.Profile,
	}
	if c.Tags == nil {
		c.Tags = []string{}
	}
	if !detail {
		return c
	}
	c.LastBoot = boot.UTC().Format(time.RFC3339)
	h.hs().mu.Lock()
	st := h.servicesLocked()
	rdp, sessions, regs := st.rdp, st.sessions, len(st.registry)
	c.RDPEnabled, c.Sessions, c.RegistryCount = &rdp, &sessions, &regs
	if !st.pending.IsZero() {
		c.PendingReboot = st.pending.UTC().Format(time.RFC3339)
	}
	c.Services = len(st.services)
	for _, s := range st.services {
		if !s.running && startOf(s) == startAuto {
			c.StoppedAutomatic = append(c.StoppedAutomatic, st.nameOf(s))
		}
	}
	for _, fl := range st.files {
		c.Files = append(c.Files, fl.path)
	}
	h.hs().mu.Unlock()
	slices.Sort(c.Files)
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
