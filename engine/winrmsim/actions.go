package winrmsim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The engine's action scripts (engine/scripts/action_*.ps1) carry their
// parameters as base64 of a JSON object on a line of their own; see
// /work/notes/actions-contract.md. The simulator answers each the way the
// real script would on this host, and changes the host's state
// (hoststate.go) the way the real script changes Windows.

// rmmParamsLine finds the parameters the engine put in a version 1 action
// script: base64 of a JSON object, decoded with .NET calls (which
// Constrained Language mode refuses).
var rmmParamsLine = regexp.MustCompile(`\$RmmParams = ConvertFrom-Json \(\[Text\.Encoding\]::UTF8\.GetString\(\[Convert\]::FromBase64String\('([A-Za-z0-9+/=]*)'\)\)\)`)

// rmmParamsTable starts the parameters of a version 2 action script: a
// hashtable literal of single-quoted strings, which needs no .NET call.
const rmmParamsTable = "$RmmParams = @{"

// actionVersionLast is the newest action script version the simulator
// answers; each version is answered the way that script behaves.
const actionVersionLast = 2

// Limits of the virtual disk and registry, per host.
const (
	maxFileSize      = 10 << 20 // bytes per file, as the contract allows
	maxDiskBytes     = 64 << 20 // bytes of pushed files per host
	maxPullChunk     = 4 << 20  // bytes per file_pull answer
	maxRegistryCount = 10000    // values per host
)

// actionReply is the one JSON document an action script prints.
type actionReply struct {
	OK      bool   `json:"ok"`
	Message string `json:"message"`
	Data    any    `json:"data"`
}

func okReply(msg string, data any) actionReply {
	return actionReply{OK: true, Message: msg, Data: data}
}
func failReply(msg string) actionReply { return actionReply{Message: msg} }

// actionRun is one action script being answered.
type actionRun struct {
	m       *machine
	h       *host
	f       *Fleet
	done    time.Time // when the script finishes
	params  map[string]string
	version int    // the script's version: each has its own known behaviour
	script  string // the script, for what it parses with (its -match pattern)
}

// param is a parameter's value, "" when absent.
func (a *actionRun) param(name string) string { return a.params[name] }

// actionHandlers maps each action script to its simulation. Every handler
// locks the host's state itself (h.hs().mu, a leaf lock).
var actionHandlers = map[string]func(a *actionRun) actionReply{
	"action_reboot":          actReboot,
	"action_shutdown":        actShutdown,
	"action_lock":            actLock,
	"action_logoff":          actLogoff,
	"action_enable_rdp":      func(a *actionRun) actionReply { return actRDP(a, true) },
	"action_disable_rdp":     func(a *actionRun) actionReply { return actRDP(a, false) },
	"action_service_control": actServiceControl,
	"action_process_kill":    actProcessKill,
	"action_clear_temp":      actClearTemp,
	"action_flush_dns":       actFlushDNS,
	"action_gpupdate":        actGPUpdate,
	"action_registry_set":    actRegistrySet,
	"action_file_push":       actFilePush,
	"action_file_pull":       actFilePull,
	"action_list_services":   actListServices,
	"action_list_processes":  actListProcesses,
	"action_host_state":      actHostState,
}

// runAction answers the engine's action scripts (action_*): one JSON
// document on stdout. Version 1 scripts end in `exit 0` (ok) or `exit 1`;
// version 2 scripts end without exit (the document says how it went).
func (p *psProcess) runAction(out psOutput, at time.Time, script, name string, version, pos int) {
	handler := actionHandlers[name]
	if handler == nil || version < 1 || version > actionVersionLast {
		p.notFound(out, at, script, name, version, pos)
		return
	}
	done := at.Add(p.m.fleet.cfg.ScriptTime)
	params, err := actionParams(script)
	if err != nil {
		out.ErrorRecords(done, [][]string{{err.Error()}})
		out.Done(done)
		return
	}
	rep := handler(&actionRun{m: p.m, h: p.m.h, f: p.m.fleet, done: done, params: params, version: version, script: script})
	doc, err := json.Marshal(rep)
	if err != nil {
		out.ErrorRecords(done, [][]string{{"ConvertTo-Json : " + err.Error()}})
		out.Done(done)
		return
	}
	out.Stdout(done, append(doc, '\r', '\n'))
	out.ErrorRecords(done, nil)
	switch {
	case version >= 2:
		out.Done(done)
	case rep.OK:
		out.Exit(done, 0)
	default:
		out.Exit(done, 1)
	}
}

// actionParams decodes the $RmmParams line; no line means no parameters.
// Values are strings by contract; numbers and booleans are accepted as
// their text.
func actionParams(script string) (map[string]string, error) {
	if i := strings.Index(script, rmmParamsTable); i >= 0 {
		return parseParamsTable(script[i+len(rmmParamsTable):])
	}
	mk := rmmParamsLine.FindStringSubmatch(script)
	if mk == nil {
		return map[string]string{}, nil
	}
	raw, err := base64.StdEncoding.DecodeString(mk[1])
	if err != nil {
		return nil, fmt.Errorf(`Exception calling "FromBase64String" with "1" argument(s): "The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters. "`)
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("ConvertFrom-Json : Invalid JSON primitive: %s", strings.TrimSpace(string(raw[:min(len(raw), 40)])))
	}
	params := make(map[string]string, len(obj))
	for k, v := range obj {
		switch v := v.(type) {
		case string:
			params[k] = v
		case nil:
		default:
			params[k] = fmt.Sprint(v)
		}
	}
	return params, nil
}

// psSingleQuotes are the characters PowerShell takes as a single quote:
// ', and the typographic ones.
const psSingleQuotes = "'\u2018\u2019\u201a\u201b"

// parseParamsTable reads the pairs of a hashtable literal of
// single-quoted strings up to its closing brace: 'key' = 'value'; ...
// A quote character doubled is one quote.
func parseParamsTable(s string) (map[string]string, error) {
	bad := func(why string) error {
		return fmt.Errorf("At line:2 char:14\r\n+ $RmmParams = @{ ...\r\nMissing closing '}' in statement block or type definition (%s).", why)
	}
	str := func(s string) (string, string, bool) {
		r, n := utf8.DecodeRuneInString(s)
		if n == 0 || !strings.ContainsRune(psSingleQuotes, r) {
			return "", s, false
		}
		s = s[n:]
		var b strings.Builder
		for len(s) > 0 {
			r, n := utf8.DecodeRuneInString(s)
			if strings.ContainsRune(psSingleQuotes, r) {
				r2, n2 := utf8.DecodeRuneInString(s[n:])
				if n2 > 0 && strings.ContainsRune(psSingleQuotes, r2) {
					b.WriteRune(r)
					s = s[n+n2:]
					continue
				}
				return b.String(), s[n:], true
			}
			b.WriteRune(r)
			s = s[n:]
		}
		return "", "", false
	}
	out := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t\r\n;")
		if strings.HasPrefix(s, "}") {
			return out, nil
		}
		k, rest, ok := str(s)
		if !ok {
			return nil, bad("a key is not a single-quoted string")
		}
		rest = strings.TrimLeft(rest, " \t")
		if !strings.HasPrefix(rest, "=") {
			return nil, bad("no = after key " + k)
		}
		v, rest, ok := str(strings.TrimLeft(rest[1:], " \t"))
		if !ok {
			return nil, bad("the value of " + k + " is not a single-quoted string")
		}
		out[k] = v
		s = rest
	}
}

// powerGrace is how long shutdown.exe waits at least (/t 2), so the
// script's answer reaches the console before WinRM goes away.
const powerGrace = 2 * time.Second

func actReboot(a *actionRun) actionReply {
	delay := 0
	if s := a.param("delay_s"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return failReply(fmt.Sprintf(`Cannot convert value "%s" to type "System.Int32". Error: "Input string was not in a correct format."`, s))
		}
		delay = n
	}
	wait := max(time.Duration(delay)*time.Second, powerGrace)
	if err := a.f.schedulePower(a.h, a.done.Add(wait), powerRebooting); err != nil {
		return failReply(err.Error())
	}
	return okReply("Restart scheduled", map[string]any{"delay_s": int(wait / time.Second)})
}

func actShutdown(a *actionRun) actionReply {
	if err := a.f.schedulePower(a.h, a.done.Add(powerGrace), powerOff); err != nil {
		return failReply(err.Error())
	}
	return okReply("Shutdown scheduled", nil)
}

// actLock and actLogoff read the host's quser output with the pattern
// the script matches it with (its -match '...'), so a script that looks
// for an English word finds nothing on a German host. Version 1 scripts
// run quser with stderr redirected under $ErrorActionPreference='Stop':
// with no session, quser's "No User exists for *" on stderr aborts them.
func actLock(a *actionRun) actionReply {
	h := a.h
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	st := h.stateLocked()
	lines := h.quserLines(st)
	if len(lines) == 0 && a.version == 1 {
		return failReply(h.noUserText())
	}
	n := a.quserMatches(lines, true)
	if n == 0 {
		return failReply("No interactive session")
	}
	st.locked = true
	return okReply("Workstation locked", map[string]any{"sessions": n})
}

func actLogoff(a *actionRun) actionReply {
	h := a.h
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	st := h.stateLocked()
	lines := h.quserLines(st)
	if len(lines) == 0 && a.version == 1 {
		return failReply(h.noUserText())
	}
	n := a.quserMatches(lines, false)
	if n > 0 {
		h.setSessionsLocked(0)
	}
	return okReply(fmt.Sprintf("Logged off %d session(s)", n), map[string]any{"sessions": n})
}

// quserRE finds the pattern a script matches quser's lines with.
var quserRE = regexp.MustCompile(`-match '((?:[^']|'')*)'`)

// quserMatches counts the session lines (after the header) the script's
// pattern matches, case-insensitively as -match does. A script without
// one is taken to count what it should: the connected sessions (those
// with a session name) when connected is set, else every session.
func (a *actionRun) quserMatches(lines []string, connected bool) int {
	if len(lines) < 2 {
		return 0
	}
	m := quserRE.FindStringSubmatch(a.script)
	if m == nil {
		n := 0
		for _, l := range lines[1:] {
			if !connected || len(l) > 23 && l[23] != ' ' {
				n++
			}
		}
		return n
	}
	re, err := regexp.Compile("(?i)" + strings.ReplaceAll(m[1], "''", "'"))
	if err != nil {
		return 0
	}
	n := 0
	for _, l := range lines[1:] {
		if re.MatchString(l) {
			n++
		}
	}
	return n
}

func actRDP(a *actionRun, enable bool) actionReply {
	h := a.h
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	st := h.stateLocked()
	st.rdp = enable
	deny := "1"
	if enable {
		deny = "0"
	}
	st.setRegistryLocked(regValue{path: `HKLM:\System\CurrentControlSet\Control\Terminal Server`, name: "fDenyTSConnections", typ: "DWord", value: deny})
	if enable {
		return okReply("RDP enabled", map[string]any{"rdp_enabled": true})
	}
	return okReply("RDP disabled", map[string]any{"rdp_enabled": false})
}

// wildcardRefusal is what the v2 service and process scripts throw for a
// name with a wildcard character when pattern is not true.
func wildcardRefusal(name string) actionReply {
	return failReply(fmt.Sprintf("'%s' holds a wildcard character (* ? [ ]); rmm acts on it as a pattern only with pattern=true", name))
}

// confirmedList is the matches param split as the scripts split it.
func confirmedList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// containsFold is PowerShell's -contains on strings: without case.
func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(v string) bool { return strings.EqualFold(v, s) })
}

// actServiceControl answers action_service_control v2: one service by its
// name, or with pattern=true the services a wildcard pattern matches
// (listed, then changed once confirmed in matches).
func actServiceControl(a *actionRun) actionReply {
	name, op := a.param("name"), a.param("op")
	pattern := strings.EqualFold(a.param("pattern"), "true")
	if !pattern && containsWildcard(name) {
		return wildcardRefusal(name)
	}
	var targets []string
	var left []string
	if !pattern {
		// Get-Service -Name runs first: an unknown service is reported
		// before a bad op.
		if _, ok := a.h.service(name); !ok {
			return failReply(fmt.Sprintf("Cannot find any service with service name '%s'.", name))
		}
		targets = []string{name}
	} else {
		var names []string
		for _, s := range a.h.services() { // sorted by name
			if wildcardMatch(name, s.Name) {
				names = append(names, s.Name)
			}
		}
		confirmed := confirmedList(a.param("matches"))
		if len(confirmed) == 0 {
			return okReply(fmt.Sprintf("nothing was changed: pattern %s matches %d service(s): %s", name, len(names), strings.Join(names, ", ")),
				map[string]any{"preview": true, "matches": nonNil(names)})
		}
		for _, n := range names {
			if containsFold(confirmed, n) {
				targets = append(targets, n)
			} else {
				left = append(left, n)
			}
		}
		if len(targets) == 0 {
			return failReply(fmt.Sprintf("none of the confirmed services (%s) matches %s here now", strings.Join(confirmed, ", "), name))
		}
	}
	var done string
	switch op {
	case "start":
		done = "started"
	case "stop":
		done = "stopped"
	case "restart":
		done = "restarted"
	default:
		return failReply(fmt.Sprintf("op '%s' is not one of start, stop, restart", op))
	}
	var infos []ServiceInfo
	for _, t := range targets {
		info, err := a.h.serviceOp(t, op)
		if err != nil {
			return failReply(err.Error()) // Stop-Service throws: the rest are not tried
		}
		infos = append(infos, info)
	}
	if !pattern {
		return okReply(infos[0].Name+" "+done, map[string]any{"name": infos[0].Name, "state": infos[0].State})
	}
	names := make([]string, len(infos))
	list := make([]map[string]any, len(infos))
	for i, in := range infos {
		names[i] = in.Name
		list[i] = map[string]any{"name": in.Name, "state": in.State}
	}
	msg := fmt.Sprintf("%d service(s) %s: %s", len(infos), done, strings.Join(names, ", "))
	if len(left) > 0 {
		msg += "; left alone (not confirmed): " + strings.Join(left, ", ")
	}
	return okReply(msg, map[string]any{"services": list, "left": nonNil(left)})
}

// nonNil makes an empty list print as [] (PowerShell's @()), not null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// actProcessKill answers action_process_kill v2: by pid, by name, or with
// pattern=true by a wildcard pattern (listed, then stopped once the
// names are confirmed in matches).
func actProcessKill(a *actionRun) actionReply {
	var pids []int
	var err error
	if s := a.param("pid"); s != "" {
		pid, perr := strconv.Atoi(s)
		if perr != nil {
			return failReply(fmt.Sprintf(`Cannot convert value "%s" to type "System.Int32". Error: "Input string was not in a correct format."`, s))
		}
		pids, err = a.h.stopProcesses("", pid)
	} else {
		name := a.param("name")
		pattern := strings.EqualFold(a.param("pattern"), "true")
		switch {
		case !pattern && containsWildcard(name):
			return wildcardRefusal(name)
		case !pattern:
			pids, err = a.h.stopProcesses(name, -1)
		default:
			matched := a.h.processNames(func(n string) bool { return wildcardMatch(name, n) })
			confirmed := confirmedList(a.param("matches"))
			if len(confirmed) == 0 {
				names := slices.Compact(slices.Sorted(maps.Keys(matched)))
				count := 0
				for _, c := range matched {
					count += c
				}
				return okReply(fmt.Sprintf("nothing was stopped: pattern %s matches %d process(es) named %s", name, count, strings.Join(names, ", ")),
					map[string]any{"preview": true, "matches": nonNil(names)})
			}
			var stop []string
			for n := range matched {
				if containsFold(confirmed, n) {
					stop = append(stop, n)
				}
			}
			if len(stop) == 0 {
				return failReply(fmt.Sprintf("none of the confirmed processes (%s) matches %s here now", strings.Join(confirmed, ", "), name))
			}
			pids, err = a.h.stopProcessesNamed(stop)
		}
	}
	if err != nil {
		return failReply(err.Error())
	}
	return okReply(fmt.Sprintf("Stopped %d process(es)", len(pids)), map[string]any{"stopped": len(pids), "pids": pids})
}

func actClearTemp(a *actionRun) actionReply {
	h := a.h
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	st := h.stateLocked()
	files, bytes := st.tempFiles, st.tempBytes
	st.tempFiles, st.tempBytes = 0, 0
	for k, f := range st.files {
		if isTempPath(f.path) {
			files++
			bytes += int64(len(f.data))
			delete(st.files, k)
		}
	}
	mb := strconv.FormatFloat(float64(bytes)/(1<<20), 'f', 1, 64)
	return okReply(fmt.Sprintf("Removed %d files (%s MB)", files, mb), map[string]any{"files": files, "bytes": bytes, "skipped": 0})
}

// isTempPath reports a path under %windir%\Temp or a user's %TEMP%.
func isTempPath(p string) bool {
	lp := strings.ToLower(p)
	return strings.HasPrefix(lp, `c:\windows\temp\`) ||
		strings.HasPrefix(lp, `c:\users\`) && strings.Contains(lp, `\appdata\local\temp\`)
}

func actFlushDNS(a *actionRun) actionReply {
	h := a.h
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	st := h.servicesLocked()
	if i := st.serviceIndex("Dnscache"); i >= 0 && !st.services[i].running {
		return failReply("Failed to clear DNS cache. The DNS Client service is not running.")
	}
	return okReply("Successfully flushed the DNS Resolver Cache.", nil)
}

// actGPUpdate: gpupdate prints its lines in the display language. On
// some hosts (by seed) policies that only apply at logon are set, and
// gpupdate /force writes a line about them on stderr and asks "OK to log
// off? (Y/N)": a version 1 script, which runs it with 2>&1 under
// $ErrorActionPreference='Stop', aborts on that line; version 2 answers
// the prompt with N and keeps every line.
func actGPUpdate(a *actionRun) actionReply {
	lines, warn := a.h.gpupdateLines()
	if warn != "" && a.version == 1 {
		return failReply(warn)
	}
	if warn != "" {
		lines = append(lines, warn)
	}
	out := strings.Join(lines, "\n")
	if a.version == 1 {
		msg := "Computer Policy update has completed successfully."
		for _, l := range lines {
			if strings.HasPrefix(l, "Computer Policy update") {
				msg = l
				break
			}
		}
		return okReply(msg, map[string]any{"output": out})
	}
	return okReply(strings.Join(lines[1:], " "), map[string]any{"output": out})
}

// registryTypes are the value kinds New-ItemProperty -PropertyType takes.
var registryTypes = []string{"String", "ExpandString", "MultiString", "DWord", "QWord", "Binary"}

func actRegistrySet(a *actionRun) actionReply {
	path, name, typ, text := a.param("path"), a.param("name"), a.param("type"), a.param("value")
	if !slices.Contains(registryTypes, typ) {
		return failReply(fmt.Sprintf("type '%s' is not one of String, ExpandString, MultiString, DWord, QWord, Binary", typ))
	}
	switch typ {
	case "DWord", "QWord":
		bits := 32
		if typ == "QWord" {
			bits = 64
		}
		digits, base := text, 10
		if a.version >= 2 && len(text) > 2 && (text[:2] == "0x" || text[:2] == "0X") {
			digits, base = text[2:], 16 // version 2 takes hex with 0x
		}
		u, err := strconv.ParseUint(digits, base, bits)
		if err != nil {
			msg := "Input string was not in a correct format."
			if strings.Contains(err.Error(), "range") {
				msg = fmt.Sprintf("Value was either too large or too small for a UInt%d.", bits)
			}
			args := 2 // version 1: [uint32]::Parse($text, $inv)
			if a.version >= 2 {
				args = 3 // version 2: ::Parse($digits, $style, $inv)
			}
			return failReply(fmt.Sprintf(`Exception calling "Parse" with "%d" argument(s): "%s"`, args, msg))
		}
		if a.version == 1 && u > 1<<(bits-1)-1 {
			// [int][uint32]::Parse(...): a checked cast of a value over
			// the signed range.
			name := "Int32"
			if bits == 64 {
				name = "Int64"
			}
			return failReply(fmt.Sprintf(`Cannot convert value "%d" to type "System.%s". Error: "Value was either too large or too small for an %s."`, u, name, name))
		}
	case "Binary":
		if _, err := hex.DecodeString(text); err != nil {
			return failReply(fmt.Sprintf("value '%s' is not hex digits in pairs", text))
		}
	}
	drive, _, _ := strings.Cut(path, `\`)
	switch strings.ToUpper(drive) {
	case "HKLM:", "HKCU:":
	default:
		return failReply(fmt.Sprintf("Cannot find drive. A drive with the name '%s' does not exist.", strings.TrimSuffix(drive, ":")))
	}
	h := a.h
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	st := h.stateLocked()
	if len(st.registry) >= maxRegistryCount {
		return failReply("Not enough quota is available to process this command.")
	}
	v := regValue{path: path, name: name, typ: typ, value: text}
	st.setRegistryLocked(v)
	if isPendingRebootKey(path, name) && st.pending.IsZero() {
		st.pending = time.Now().Truncate(time.Second)
	}
	if strings.EqualFold(strings.TrimRight(path, `\`), `HKLM:\System\CurrentControlSet\Control\Terminal Server`) && strings.EqualFold(name, "fDenyTSConnections") && typ == "DWord" {
		st.rdp = text == "0"
	}
	return okReply(fmt.Sprintf(`Set %s\%s (%s)`, path, name, typ), map[string]any{"path": path, "name": name, "type": typ, "value": text})
}

// setRegistryLocked stores a value. h.hs().mu must be held.
func (st *hostState) setRegistryLocked(v regValue) {
	if st.registry == nil {
		st.registry = make(map[string]regValue)
	}
	st.registry[strings.ToLower(strings.TrimRight(v.path, `\`))+`\`+strings.ToLower(v.name)] = v
}

// validFilePath accepts an absolute Windows path on a fixed drive.
func validFilePath(p string) bool {
	return len(p) > 3 && p[1] == ':' && p[2] == '\\' && (p[0]|0x20) >= 'a' && (p[0]|0x20) <= 'z' &&
		!strings.ContainsAny(p[3:], `<>:"/|?*`) && !strings.HasSuffix(p, `\`)
}

func actFilePush(a *actionRun) actionReply {
	path := a.param("path")
	if !validFilePath(path) {
		return failReply(fmt.Sprintf("The given path's format is not supported: '%s'", path))
	}
	offset, err := strconv.ParseInt(a.param("offset"), 10, 64)
	if err != nil || offset < 0 {
		return failReply(fmt.Sprintf(`Cannot convert value "%s" to type "System.Int64". Error: "Input string was not in a correct format."`, a.param("offset")))
	}
	chunk, err := base64.StdEncoding.DecodeString(a.param("data"))
	if err != nil {
		return failReply(`Exception calling "FromBase64String" with "1" argument(s): "The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters. "`)
	}
	key := strings.ToLower(path)
	h := a.h
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	st := h.stateLocked()
	f := st.files[key]
	if offset == 0 {
		f = &vfile{path: path}
	}
	if f == nil || int64(len(f.data)) != offset {
		return failReply("offset mismatch")
	}
	if int64(len(f.data))+int64(len(chunk)) > maxFileSize {
		delete(st.files, key)
		return failReply(fmt.Sprintf("File too large: the simulator keeps at most %d MB per file", maxFileSize>>20))
	}
	used := int64(0)
	for k, g := range st.files {
		if k != key {
			used += int64(len(g.data))
		}
	}
	if used+int64(len(f.data))+int64(len(chunk)) > maxDiskBytes {
		delete(st.files, key)
		return failReply("There is not enough space on the disk.")
	}
	f.data = append(f.data, chunk...)
	f.at = time.Now()
	if st.files == nil {
		st.files = make(map[string]*vfile)
	}
	st.files[key] = f
	size := len(f.data)
	if a.param("final") != "true" {
		return okReply("Chunk written", map[string]any{"size": size, "sha256": ""})
	}
	sum := sha256.Sum256(f.data)
	got := hex.EncodeToString(sum[:])
	if got != strings.ToLower(a.param("sha256")) {
		delete(st.files, key)
		return failReply("checksum mismatch")
	}
	return okReply(fmt.Sprintf("File written (%d bytes, sha256 verified)", size), map[string]any{"size": size, "sha256": got})
}

func actFilePull(a *actionRun) actionReply {
	path := a.param("path")
	offset, err1 := strconv.ParseInt(a.param("offset"), 10, 64)
	length, err2 := strconv.ParseInt(a.param("length"), 10, 64)
	if a.param("offset") == "" {
		offset, err1 = 0, nil
	}
	if a.param("length") == "" {
		length, err2 = 65536, nil
	}
	if err1 != nil || err2 != nil || offset < 0 || length < 0 {
		return failReply(fmt.Sprintf(`Cannot convert value "%s" to type "System.Int64". Error: "Input string was not in a correct format."`, a.param("offset")+"/"+a.param("length")))
	}
	h := a.h
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	st := h.stateLocked()
	f := st.files[strings.ToLower(path)]
	if f == nil {
		return failReply(fmt.Sprintf("Cannot find path '%s' because it does not exist.", path))
	}
	size := int64(len(f.data))
	n := max(0, min(length, maxPullChunk, size-offset))
	var part []byte
	if n > 0 {
		part = f.data[offset : offset+n]
	}
	hash := ""
	if a.version == 1 || offset+n >= size {
		// Version 2 hashes the file once, with its last chunk.
		sum := sha256.Sum256(f.data)
		hash = hex.EncodeToString(sum[:])
	}
	return okReply(fmt.Sprintf("Read %d bytes", n), map[string]any{
		"size":   size,
		"data":   base64.StdEncoding.EncodeToString(part),
		"sha256": hash,
	})
}

// serviceJSON is one service as action_list_services prints it.
type serviceJSON struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	State       string `json:"state"`
	StartType   string `json:"start_type"`
}

func actListServices(a *actionRun) actionReply {
	svcs := a.h.services()
	list := make([]serviceJSON, len(svcs))
	for i, s := range svcs {
		list[i] = serviceJSON{s.Name, s.DisplayName, s.State, s.StartType}
		if a.h.hp.legacy {
			list[i].StartType = "" // .NET 4.5.2: ServiceController has no StartType
		}
	}
	return okReply(fmt.Sprintf("%d services", len(list)), map[string]any{"services": list})
}

// processJSON is one process as action_list_processes prints it.
type processJSON struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
}

func actListProcesses(a *actionRun) actionReply {
	h := a.h
	h.hs().mu.Lock()
	procs := h.processesLocked()
	list := make([]processJSON, len(procs))
	for i, p := range procs {
		list[i] = processJSON{p.name, p.pid}
	}
	h.hs().mu.Unlock()
	return okReply(fmt.Sprintf("%d processes", len(list)), map[string]any{"processes": list})
}

func actHostState(a *actionRun) actionReply {
	h := a.h
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	st := h.stateLocked()
	files := make([]string, 0, len(st.files))
	for _, f := range st.files {
		files = append(files, f.path)
	}
	slices.SortFunc(files, func(x, y string) int { return strings.Compare(strings.ToLower(x), strings.ToLower(y)) })
	pending := ""
	if !st.pending.IsZero() {
		pending = st.pending.UTC().Format(time.RFC3339)
	}
	return okReply("host state", map[string]any{
		"rdp_enabled":    st.rdp,
		"last_boot":      a.m.lastBoot.UTC().Format(time.RFC3339),
		"files":          files,
		"registry_count": len(st.registry),
		"sessions":       st.sessions,
		"locked":         st.locked,
		"pending_reboot": pending,
		"temp_files":     st.tempFiles,
	})
}
