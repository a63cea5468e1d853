package winrmsim

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// What an admin types in the first minutes of a remote PowerShell
// (rmm's pane, Enter-PSSession): the file system, ipconfig, CIM classes,
// Get-Command, help, $PSVersionTable, and pipelines through
// Select-Object, Where-Object, Sort-Object, Measure-Object and the
// formatters, with objects printed the way Windows PowerShell 5.1 prints
// their default views. In the loop's session runspace (v3) variables,
// functions and the location last from line to line.
//
// Anything else is an error record that says plainly that the simulated
// host does not implement it, so nobody mistakes a simulator limit for
// an rmm limit; Get-Command lists what it runs.

// psObj is one object in a pipeline: its type and its properties in
// order.
type psObj struct {
	typ   string
	props []kv
}

func (o psObj) get(name string) (any, bool) {
	for _, p := range o.props {
		if strings.EqualFold(p.k, name) {
			return p.v, true
		}
	}
	return nil, false
}

// psResult is what a pipeline stage hands on: objects with their
// default view, or text (a native command's output, help).
type psResult struct {
	objs  []psObj
	view  []string // the default table's columns; nil: 4 properties or fewer as a table, more as a list
	list  bool     // the default view is a list
	group string   // a heading line before each change of this property's value (Get-ChildItem's "Directory:")
	text  string
	isTxt bool
}

// paneCommand is a command the simulated host runs for the pane.
type paneCommand struct {
	name, kind, source, synopsis string
	aliases                      []string
}

// paneCommands is what Get-Command lists: the commands the simulator
// implements for interactive use.
var paneCommands = []paneCommand{
	{name: "Get-ChildItem", kind: "Cmdlet", source: "Microsoft.PowerShell.Management", aliases: []string{"dir", "ls", "gci"},
		synopsis: "Gets the items and child items in one or more specified locations."},
	{name: "Get-Location", kind: "Cmdlet", source: "Microsoft.PowerShell.Management", aliases: []string{"pwd", "gl"},
		synopsis: "Gets information about the current working location or a location stack."},
	{name: "Set-Location", kind: "Cmdlet", source: "Microsoft.PowerShell.Management", aliases: []string{"cd", "chdir", "sl"},
		synopsis: "Sets the current working location to a specified location."},
	{name: "Get-CimInstance", kind: "Cmdlet", source: "CimCmdlets", aliases: []string{"gcim"},
		synopsis: "Gets the CIM instances of a class from a CIM server."},
	{name: "Get-WmiObject", kind: "Cmdlet", source: "Microsoft.PowerShell.Management", aliases: []string{"gwmi"},
		synopsis: "Gets instances of Windows Management Instrumentation (WMI) classes or information about the available classes."},
	{name: "Get-Command", kind: "Cmdlet", source: "Microsoft.PowerShell.Core", aliases: []string{"gcm"},
		synopsis: "Gets all commands."},
	{name: "Get-Help", kind: "Cmdlet", source: "Microsoft.PowerShell.Core", aliases: []string{"help", "man"},
		synopsis: "Displays information about Windows PowerShell commands and concepts."},
	{name: "Get-Service", kind: "Cmdlet", source: "Microsoft.PowerShell.Management", aliases: []string{"gsv"},
		synopsis: "Gets the services on a local or remote computer."},
	{name: "Start-Service", kind: "Cmdlet", source: "Microsoft.PowerShell.Management", aliases: []string{"sasv"},
		synopsis: "Starts one or more stopped services."},
	{name: "Stop-Service", kind: "Cmdlet", source: "Microsoft.PowerShell.Management", aliases: []string{"spsv"},
		synopsis: "Stops one or more running services."},
	{name: "Restart-Service", kind: "Cmdlet", source: "Microsoft.PowerShell.Management",
		synopsis: "Stops and then starts one or more services."},
	{name: "Get-Process", kind: "Cmdlet", source: "Microsoft.PowerShell.Management", aliases: []string{"gps", "ps"},
		synopsis: "Gets the processes that are running on the local computer or a remote computer."},
	{name: "Stop-Process", kind: "Cmdlet", source: "Microsoft.PowerShell.Management", aliases: []string{"kill", "spps"},
		synopsis: "Stops one or more running processes."},
	{name: "Select-Object", kind: "Cmdlet", source: "Microsoft.PowerShell.Utility", aliases: []string{"select"},
		synopsis: "Selects objects or object properties."},
	{name: "Where-Object", kind: "Cmdlet", source: "Microsoft.PowerShell.Core", aliases: []string{"where", "?"},
		synopsis: "Selects objects from a collection based on their property values."},
	{name: "Sort-Object", kind: "Cmdlet", source: "Microsoft.PowerShell.Utility", aliases: []string{"sort"},
		synopsis: "Sorts objects by property values."},
	{name: "Measure-Object", kind: "Cmdlet", source: "Microsoft.PowerShell.Utility", aliases: []string{"measure"},
		synopsis: "Calculates the numeric properties of objects, and the characters, words, and lines in string objects."},
	{name: "Format-Table", kind: "Cmdlet", source: "Microsoft.PowerShell.Utility", aliases: []string{"ft"},
		synopsis: "Formats the output as a table."},
	{name: "Format-List", kind: "Cmdlet", source: "Microsoft.PowerShell.Utility", aliases: []string{"fl"},
		synopsis: "Formats the output as a list of properties in which each property appears on a new line."},
	{name: "Out-String", kind: "Cmdlet", source: "Microsoft.PowerShell.Utility",
		synopsis: "Sends objects to the host as a series of strings."},
	{name: "Get-Date", kind: "Cmdlet", source: "Microsoft.PowerShell.Utility",
		synopsis: "Gets the current date and time."},
	{name: "Start-Sleep", kind: "Cmdlet", source: "Microsoft.PowerShell.Utility", aliases: []string{"sleep"},
		synopsis: "Suspends the activity in a script or session for the specified period of time."},
	{name: "Write-Output", kind: "Cmdlet", source: "Microsoft.PowerShell.Utility", aliases: []string{"echo", "write"},
		synopsis: "Sends the specified objects to the next command in the pipeline."},
	{name: "Write-Host", kind: "Cmdlet", source: "Microsoft.PowerShell.Utility",
		synopsis: "Writes customized output to a host."},
	{name: "Write-Warning", kind: "Cmdlet", source: "Microsoft.PowerShell.Utility",
		synopsis: "Writes a warning message."},
	{name: "Write-Error", kind: "Cmdlet", source: "Microsoft.PowerShell.Utility",
		synopsis: "Writes an object to the error stream."},
	{name: "hostname.exe", kind: "Application", source: `C:\Windows\system32\hostname.exe`, synopsis: "Prints the computer's name."},
	{name: "ipconfig.exe", kind: "Application", source: `C:\Windows\system32\ipconfig.exe`, synopsis: "Displays the IP configuration."},
	{name: "whoami.exe", kind: "Application", source: `C:\Windows\system32\whoami.exe`, synopsis: "Displays the current user."},
}

// paneCommandFor finds a command by name or alias (case-insensitive).
func paneCommandFor(word string) (paneCommand, bool) {
	lw := strings.ToLower(strings.TrimSuffix(strings.ToLower(word), ".exe"))
	for _, c := range paneCommands {
		if strings.EqualFold(strings.TrimSuffix(c.name, ".exe"), lw) || slices.Contains(c.aliases, lw) {
			return c, true
		}
	}
	return paneCommand{}, false
}

// notImplemented is the error record for a command the simulated host
// does not run, in the shape of PowerShell's CommandNotFoundException
// but saying what it is.
func notImplemented(term string, st statement) []string {
	return []string{
		term + " : the simulated host does not implement " + term + " (a real Windows host may run it; rmm sends it unchanged; Get-Command lists what the simulator runs)",
		"At line:" + strconv.Itoa(st.line) + " char:" + strconv.Itoa(st.col),
		"+ " + st.src,
		"+ " + strings.Repeat(" ", max(st.col-1, 0)) + strings.Repeat("~", max(1, len(term))),
		"    + CategoryInfo          : ObjectNotFound: (" + term + ":String) [], CommandNotFoundException",
		"    + FullyQualifiedErrorId : CommandNotFoundException",
		" ",
	}
}

// splitTop splits s at sep outside quotes, braces and parentheses.
func splitTop(s string, sep byte) []string {
	var out []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'':
			if q := singleQuoteLen(s, i); q > 0 {
				quote = 0
				i += q - 1
			}
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case singleQuoteLen(s, i) > 0:
			quote = '\''
			i += singleQuoteLen(s, i) - 1
		case c == '"':
			quote = c
		case c == '{' || c == '(':
			depth++
		case c == '}' || c == ')':
			depth = max(depth-1, 0)
		case c == sep && depth == 0:
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

// objectCommand reports whether a pipeline starting with word is run as
// objects here (the commands that produce them).
func objectCommand(word string) bool {
	switch strings.ToLower(word) {
	case "get-childitem", "dir", "ls", "gci", "get-location", "pwd", "gl", "get-ciminstance", "gcim", "get-wmiobject", "gwmi",
		"get-command", "gcm", "$psversiontable", "get-service", "gsv", "get-process", "gps", "ps":
		return true
	}
	return false
}

// pipeline runs one statement as a pipeline of objects: a producer, then
// the filters, then the formatting. handled is false when its first
// command is nothing this file knows.
func (p *psProcess) pipeline(st statement, t time.Time) (out string, errs [][]string, handled bool) {
	res, errs, handled := p.pipelineResult(st, t)
	if !handled {
		return "", nil, false
	}
	return formatResult(res), errs, true
}

// pipelineResult runs a pipeline and returns its objects, unformatted.
func (p *psProcess) pipelineResult(st statement, t time.Time) (res psResult, errs [][]string, handled bool) {
	segs := splitTop(st.text, '|')
	word, arg := firstWord(segs[0])
	switch lw := strings.ToLower(word); {
	case strings.HasPrefix(word, "$") && p.objVars[strings.ToLower(word[1:])] != nil:
		res = *p.objVars[strings.ToLower(word[1:])]
	case objectCommand(lw):
		var e [][]string
		res, e = p.produce(lw, arg, st, t)
		errs = append(errs, e...)
	default:
		return psResult{}, nil, false
	}
	for _, seg := range segs[1:] {
		w, a := firstWord(seg)
		var err []string
		res, err = p.filter(res, strings.ToLower(w), w, a, st)
		if err != nil {
			return psResult{}, append(errs, err), true
		}
	}
	return res, errs, true
}

// propertyOf runs `(PIPELINE).Property`: the property of each object
// the pipeline returns, one per line; handled is false when the
// statement is not that or its pipeline is nothing this file knows.
func (p *psProcess) propertyOf(st statement, t time.Time) (out string, errs [][]string, handled bool) {
	end := strings.LastIndex(st.text, ").")
	if !strings.HasPrefix(st.text, "(") || end < 0 {
		return "", nil, false
	}
	prop := strings.TrimSpace(st.text[end+2:])
	if prop == "" || strings.ContainsAny(prop, " ()|.") {
		return "", nil, false
	}
	inner := st
	inner.text = strings.TrimSpace(st.text[1:end])
	res, errs, ok := p.pipelineResult(inner, t)
	if !ok || res.isTxt {
		return "", nil, false
	}
	var b strings.Builder
	for _, o := range res.objs {
		if v, ok := o.get(prop); ok {
			b.WriteString(cell(v) + "\r\n")
		}
	}
	return b.String(), errs, true
}

// produce runs a command that makes objects.
func (p *psProcess) produce(lw, arg string, st statement, t time.Time) (psResult, [][]string) {
	switch lw {
	case "get-childitem", "dir", "ls", "gci":
		return p.childItems(arg, st)
	case "get-location", "pwd", "gl":
		return psResult{objs: []psObj{{typ: "System.Management.Automation.PathInfo", props: []kv{{"Path", p.location()}}}}}, nil
	case "get-ciminstance", "gcim", "get-wmiobject", "gwmi":
		return p.cimInstances(arg, st, t)
	case "get-command", "gcm":
		return p.commands(arg, st)
	case "$psversiontable":
		return p.psVersionTable(), nil
	case "get-service", "gsv":
		svcs, errs := p.getServices(parseCmdletArgs("Get-Service", arg), st)
		var objs []psObj
		for _, s := range svcs {
			objs = append(objs, psObj{typ: "System.ServiceProcess.ServiceController", props: []kv{{"Status", psEnum(s.State)}, {"Name", s.Name},
				{"DisplayName", s.DisplayName}, {"StartType", psEnum(s.StartType)}, {"ServiceName", s.Name}}})
		}
		return psResult{objs: objs, view: []string{"Status", "Name", "DisplayName"}}, errs
	case "get-process", "gps", "ps":
		h := p.m.h
		procs, errs := p.getProcesses(parseCmdletArgs("Get-Process", arg), st)
		var objs []psObj
		for _, pr := range procs {
			r := splitmix(h.seed ^ uint64(pr.pid)*0x9e37)
			objs = append(objs, psObj{typ: "System.Diagnostics.Process", props: []kv{{"Handles", 80 + int(r%1400)},
				{"NPM(K)", 5 + int(r>>12%60)}, {"PM(K)", 1200 + int(r>>20%90000)}, {"WS(K)", 5200 + int(r>>32%60000)},
				{"CPU(s)", float64(r>>40%20000) / 100}, {"Id", pr.pid}, {"SI", pr.sess}, {"ProcessName", pr.name}, {"Name", pr.name}}})
		}
		return psResult{objs: objs, view: []string{"Handles", "NPM(K)", "PM(K)", "WS(K)", "CPU(s)", "Id", "SI", "ProcessName"}}, errs
	}
	return psResult{}, nil
}

// location is the session's current location: the user's Documents
// folder at first, as in a remote session.
func (p *psProcess) location() string {
	if p.cwd == "" {
		return profileDir(p.m) + `\Documents`
	}
	return p.cwd
}

// resolvePath makes arg (relative, .., ~, absolute) an absolute path.
func (p *psProcess) resolvePath(arg string) string {
	a := strings.Trim(strings.TrimSpace(arg), `'"`)
	switch {
	case a == "" || a == ".":
		return p.location()
	case a == "~" || strings.HasPrefix(a, `~\`):
		a = profileDir(p.m) + a[1:]
	case len(a) >= 2 && a[1] == ':':
	case strings.HasPrefix(a, `\`):
		a = "C:" + a
	default:
		a = p.location() + `\` + a
	}
	a = strings.ReplaceAll(a, "/", `\`)
	vol := strings.ToUpper(a[:2])
	var parts []string
	for _, s := range strings.Split(a[2:], `\`) {
		switch s {
		case "", ".":
		case "..":
			if len(parts) > 0 {
				parts = parts[:len(parts)-1]
			}
		default:
			parts = append(parts, s)
		}
	}
	return vol + `\` + strings.Join(parts, `\`)
}

// dirEntry is one item of a simulated directory.
type dirEntry struct {
	name string
	dir  bool
	size int
	at   time.Time
	mode string
}

// children lists a directory of the simulated disk: the well-known
// folders of a Windows installation, and the files rmm pushed.
func (p *psProcess) children(dir string) ([]dirEntry, bool) {
	h := p.m.h
	boot := p.m.lastBoot
	if boot.IsZero() {
		boot = time.Now().Add(-24 * time.Hour)
	}
	installed := time.Date(2024, 11, 12, 9, 41, 0, 0, time.UTC)
	user := p.m.user
	known := map[string][]string{
		`c:\`:                     {"PerfLogs", "Program Files", "Program Files (x86)", "Users", "Windows"},
		`c:\users`:                {user, "Public"},
		`c:\users\` + lower(user): {"Contacts", "Desktop", "Documents", "Downloads", "Favorites", "Links", "Music", "Pictures", "Saved Games", "Searches", "Videos"},
		`c:\users\public`:         {"Documents", "Downloads", "Music", "Pictures", "Videos"},
		`c:\windows`:              {"Logs", "Panther", "System32", "SysWOW64", "Temp", "WinSxS"},
		`c:\program files`:        {"Common Files", "Internet Explorer", "Windows Defender", "WindowsPowerShell"},
		`c:\program files (x86)`:  {"Common Files", "Internet Explorer", "Microsoft"},
		`c:\windows\logs`:         {"CBS", "DISM", "WindowsUpdate"},
	}
	key := strings.ToLower(strings.TrimRight(dir, `\`))
	if len(key) == 2 {
		key += `\`
	}
	var out []dirEntry
	names, ok := known[key]
	for _, n := range names {
		mode := "d-----"
		if key == `c:\users\`+lower(user) || key == `c:\program files` {
			mode = "d-r---"
		}
		out = append(out, dirEntry{name: n, dir: true, at: installed, mode: mode})
	}
	// Every other folder under the user's profile and C:\Windows\Temp
	// exists, empty, or holds what rmm pushed there.
	if !ok && (strings.HasPrefix(key, `c:\users\`+lower(user)+`\`) && strings.Count(key, `\`) == 3 || key == `c:\windows\temp` ||
		key == `c:\perflogs` || strings.HasPrefix(key, `c:\windows\logs\`) || strings.HasPrefix(key, `c:\users\public\`)) {
		ok = true
	}
	st := h.hs()
	st.mu.Lock()
	seen := map[string]bool{}
	for k, f := range st.files {
		if !strings.HasPrefix(k, key+`\`) && !(strings.HasSuffix(key, `\`) && strings.HasPrefix(k, key)) {
			continue
		}
		rest := strings.TrimPrefix(strings.TrimPrefix(k, key), `\`)
		ok = true
		if i := strings.IndexByte(rest, '\\'); i >= 0 {
			sub := f.path[len(f.path)-len(rest) : len(f.path)-len(rest)+i]
			if !seen[strings.ToLower(sub)] && !slices.ContainsFunc(out, func(e dirEntry) bool { return strings.EqualFold(e.name, sub) }) {
				seen[strings.ToLower(sub)] = true
				out = append(out, dirEntry{name: sub, dir: true, at: f.at, mode: "d-----"})
			}
			continue
		}
		out = append(out, dirEntry{name: path.Base(strings.ReplaceAll(f.path, `\`, "/")), size: len(f.data), at: f.at, mode: "-a----"})
	}
	st.mu.Unlock()
	slices.SortFunc(out, func(a, b dirEntry) int {
		if a.dir != b.dir {
			if a.dir {
				return -1
			}
			return 1
		}
		return strings.Compare(strings.ToLower(a.name), strings.ToLower(b.name))
	})
	return out, ok
}

func lower(s string) string { return strings.ToLower(s) }

// pathNotFound is the record of a cmdlet given a path that is not there.
func pathNotFound(cmdlet, full, fqid string, st statement) []string {
	return cmdletError(cmdlet, "Cannot find path '"+full+"' because it does not exist.", "ObjectNotFound", full,
		"ItemNotFoundException", fqid, st)
}

// childItems is Get-ChildItem [PATH].
func (p *psProcess) childItems(arg string, st statement) (psResult, [][]string) {
	target := ""
	for _, t := range psTokens(arg) {
		if lt := strings.ToLower(t); strings.HasPrefix(lt, "-") {
			continue // -Force, -File, -Directory and friends: all shown
		}
		if target == "" {
			target = t
		}
	}
	full := p.resolvePath(target)
	es, ok := p.children(full)
	if !ok {
		return psResult{}, [][]string{pathNotFound("Get-ChildItem", full, "PathNotFound,Microsoft.PowerShell.Commands.GetChildItemCommand", st)}
	}
	var objs []psObj
	for _, e := range es {
		typ, length := "System.IO.FileInfo", any(e.size)
		if e.dir {
			typ, length = "System.IO.DirectoryInfo", ""
		}
		objs = append(objs, psObj{typ: typ, props: []kv{{"Directory", full}, {"Mode", e.mode},
			{"LastWriteTime", e.at.Local().Format("1/2/2006   3:04 PM")}, {"Length", length}, {"Name", e.name},
			{"FullName", strings.TrimRight(full, `\`) + `\` + e.name}}})
	}
	return psResult{objs: objs, view: []string{"Mode", "LastWriteTime", "Length", "Name"}, group: "Directory"}, nil
}

// setLocation is Set-Location PATH (cd).
func (p *psProcess) setLocation(arg string, st statement) [][]string {
	target := ""
	for _, t := range psTokens(arg) {
		if !strings.HasPrefix(t, "-") {
			target = t
			break
		}
	}
	if target == "" {
		target = "~"
	}
	full := p.resolvePath(target)
	if _, ok := p.children(full); !ok {
		return [][]string{pathNotFound("Set-Location", full, "PathNotFound,Microsoft.PowerShell.Commands.SetLocationCommand", st)}
	}
	p.cwd = strings.TrimRight(full, `\`)
	if len(p.cwd) == 2 {
		p.cwd += `\`
	}
	return nil
}

// cimInstances is Get-CimInstance [-ClassName] CLASS (and Get-WmiObject).
func (p *psProcess) cimInstances(arg string, st statement, t time.Time) (psResult, [][]string) {
	class := ""
	toks := psTokens(arg)
	for i := 0; i < len(toks); i++ {
		lt := strings.ToLower(toks[i])
		switch {
		case lt == "-classname" || lt == "-class":
			if i+1 < len(toks) {
				class = toks[i+1]
				i++
			}
		case strings.HasPrefix(lt, "-"):
			if lt != "-computername" && lt != "-namespace" && lt != "-filter" {
				continue
			}
			i++
		case class == "":
			class = toks[i]
		}
	}
	h := p.m.h
	epoch := p.m.fleet.epoch
	boot := p.m.lastBoot
	cimDate := func(tt time.Time) string { return tt.Local().Format("1/2/2006 3:04:05 PM") }
	hw := h.hardwareDoc(t, epoch)
	sub := func(o obj, k string) obj {
		for _, p := range o {
			if p.k == k {
				switch v := p.v.(type) {
				case obj:
					return v
				}
			}
		}
		return nil
	}
	list := func(o obj, k string) []obj {
		for _, p := range o {
			if p.k != k {
				continue
			}
			switch v := p.v.(type) {
			case obj:
				return []obj{v}
			case []obj:
				return v
			}
		}
		return nil
	}
	val := func(o obj, k string) any {
		for _, p := range o {
			if p.k == k {
				return p.v
			}
		}
		return nil
	}
	typ := "Microsoft.Management.Infrastructure.CimInstance#root/cimv2/" + class
	one := func(view []string, list bool, props ...kv) psResult {
		return psResult{objs: []psObj{{typ: typ, props: props}}, view: view, list: list}
	}
	switch strings.ToLower(class) {
	case "win32_operatingsystem":
		return one([]string{"SystemDirectory", "Organization", "BuildNumber", "RegisteredUser", "SerialNumber", "Version"}, false,
			kv{"SystemDirectory", `C:\Windows\system32`}, kv{"Organization", ""}, kv{"BuildNumber", h.build()},
			kv{"RegisteredUser", "IT"}, kv{"SerialNumber", fmt.Sprintf("00%03d-80000-00000-AA%03d", h.seed%1000, (h.seed>>10)%1000)},
			kv{"Version", h.release.version}, kv{"Caption", h.caption}, kv{"CSName", h.name}, kv{"OSArchitecture", "64-bit"},
			kv{"LastBootUpTime", cimDate(boot)}, kv{"InstallDate", cimDate(h.installDate(epoch))},
			kv{"TotalVisibleMemorySize", h.prof.memMB * 1024}, kv{"FreePhysicalMemory", h.prof.memMB * 1024 / 3}), nil
	case "win32_computersystem":
		sys := sub(hw, "system")
		return one([]string{"Name", "PrimaryOwnerName", "Domain", "TotalPhysicalMemory", "Model", "Manufacturer"}, false,
			kv{"Name", h.name}, kv{"PrimaryOwnerName", "IT"}, kv{"Domain", val(sys, "domain")},
			kv{"TotalPhysicalMemory", val(sys, "total_memory_bytes")}, kv{"Model", val(sys, "model")},
			kv{"Manufacturer", val(sys, "manufacturer")}, kv{"PartOfDomain", val(sys, "part_of_domain")},
			kv{"SystemType", val(sys, "system_type")}, kv{"NumberOfProcessors", val(sys, "processors")},
			kv{"NumberOfLogicalProcessors", val(sys, "logical_processors")}), nil
	case "win32_bios":
		b := sub(hw, "bios")
		return one([]string{"SMBIOSBIOSVersion", "Manufacturer", "Name", "SerialNumber", "Version"}, true,
			kv{"SMBIOSBIOSVersion", val(b, "version")}, kv{"Manufacturer", val(b, "manufacturer")}, kv{"Name", val(b, "version")},
			kv{"SerialNumber", val(b, "serial_number")}, kv{"Version", fmt.Sprint(val(b, "manufacturer")) + " - 1072009"}), nil
	case "win32_processor":
		var objs []psObj
		for i, c := range list(hw, "processors") {
			objs = append(objs, psObj{typ: typ, props: []kv{{"DeviceID", "CPU" + strconv.Itoa(i)}, {"Name", val(c, "name")},
				{"Caption", "Intel64 Family 6 Model 85 Stepping 7"}, {"MaxClockSpeed", val(c, "max_clock_mhz")},
				{"SocketDesignation", "CPU" + strconv.Itoa(i)}, {"Manufacturer", val(c, "manufacturer")},
				{"NumberOfCores", val(c, "cores")}, {"NumberOfLogicalProcessors", val(c, "logical_processors")}}})
		}
		return psResult{objs: objs, view: []string{"DeviceID", "Name", "Caption", "MaxClockSpeed", "SocketDesignation", "Manufacturer"}}, nil
	case "win32_logicaldisk":
		var objs []psObj
		for _, v := range list(hw, "volumes") {
			objs = append(objs, psObj{typ: typ, props: []kv{{"DeviceID", val(v, "drive")}, {"DriveType", val(v, "drive_type")},
				{"ProviderName", ""}, {"VolumeName", orEmpty(val(v, "label"))}, {"Size", orEmpty(val(v, "size_bytes"))},
				{"FreeSpace", orEmpty(val(v, "free_bytes"))}, {"FileSystem", orEmpty(val(v, "file_system"))}}})
		}
		return psResult{objs: objs, view: []string{"DeviceID", "DriveType", "ProviderName", "VolumeName", "Size", "FreeSpace"}}, nil
	case "win32_service":
		var objs []psObj
		for i, s := range h.services() {
			pid := 0
			if s.State == "Running" {
				pid = 400 + 4*i
			}
			start := s.StartType
			if strings.HasPrefix(start, "Automatic") {
				start = "Auto"
			}
			objs = append(objs, psObj{typ: typ, props: []kv{{"ProcessId", pid}, {"Name", s.Name}, {"StartMode", start},
				{"State", s.State}, {"Status", "OK"}, {"ExitCode", 0}, {"DisplayName", s.DisplayName}}})
		}
		return psResult{objs: objs, view: []string{"ProcessId", "Name", "StartMode", "State", "Status", "ExitCode"}}, nil
	case "win32_networkadapterconfiguration":
		var objs []psObj
		for _, a := range list(h.networkDoc(), "adapters") {
			objs = append(objs, psObj{typ: typ, props: []kv{{"DHCPEnabled", val(a, "dhcp")}, {"IPAddress", braces(val(a, "ipv4"), val(a, "ipv6"))},
				{"DefaultIPGateway", braces(val(a, "gateways"))}, {"DNSDomain", orEmpty(val(a, "dns_domain"))}, {"ServiceName", "e1iexpress"},
				{"Description", val(a, "description")}, {"Index", val(a, "index")}, {"MACAddress", strings.ReplaceAll(fmt.Sprint(val(a, "mac")), "-", ":")},
				{"IPEnabled", true}}})
		}
		return psResult{objs: objs, view: []string{"DHCPEnabled", "IPAddress", "DefaultIPGateway", "DNSDomain", "ServiceName", "Description", "Index"}}, nil
	case "win32_quickfixengineering":
		var objs []psObj
		for _, f := range h.hotfixes(p.m.fleet, t) {
			on := ""
			if d, ok := val(f, "installed_on").(psDate); ok {
				on = time.Time(d).Local().Format("1/2/2006 12:00:00 AM")
			}
			objs = append(objs, psObj{typ: typ, props: []kv{{"Source", h.name}, {"Description", val(f, "description")},
				{"HotFixID", val(f, "id")}, {"InstalledBy", orEmpty(val(f, "installed_by"))}, {"InstalledOn", on}}})
		}
		return psResult{objs: objs, view: []string{"Source", "Description", "HotFixID", "InstalledBy", "InstalledOn"}}, nil
	case "":
		return psResult{}, [][]string{{"Get-CimInstance : Cannot process command because of one or more missing mandatory parameters: ClassName."}}
	}
	known := "Win32_OperatingSystem, Win32_ComputerSystem, Win32_BIOS, Win32_Processor, Win32_LogicalDisk, Win32_Service, Win32_NetworkAdapterConfiguration, Win32_QuickFixEngineering"
	if strings.HasPrefix(strings.ToLower(class), "win32_") || strings.HasPrefix(strings.ToLower(class), "cim_") || strings.HasPrefix(strings.ToLower(class), "msft_") {
		return psResult{}, [][]string{{"Get-CimInstance : the simulated host does not implement the class " + class + " (it answers " + known + ")"}}
	}
	return psResult{}, [][]string{cmdletError("Get-CimInstance", "Invalid class ", "MetadataError", "root/cimv2:"+class,
		"CimException", "HRESULT 0x80041010,Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand", st)}
}

func orEmpty(v any) any {
	if v == nil {
		return ""
	}
	return v
}

// braces formats string arrays as 5.1 shows them in a table: {a, b}.
func braces(vs ...any) string {
	var all []string
	for _, v := range vs {
		switch x := v.(type) {
		case []string:
			all = append(all, x...)
		case string:
			all = append(all, x)
		}
	}
	return "{" + strings.Join(all, ", ") + "}"
}

// commands is Get-Command [NAME].
func (p *psProcess) commands(arg string, st statement) (psResult, [][]string) {
	var pat string
	for _, t := range psTokens(arg) {
		if !strings.HasPrefix(t, "-") {
			pat = strings.ToLower(t)
			break
		}
	}
	var objs []psObj
	for _, c := range paneCommands {
		if pat != "" {
			ok, _ := path.Match(pat, strings.ToLower(c.name))
			ok2, _ := path.Match(pat, strings.ToLower(strings.TrimSuffix(c.name, ".exe")))
			if !ok && !ok2 && !slices.Contains(c.aliases, pat) {
				continue
			}
		}
		version := "3.1.0.0"
		switch c.source {
		case "Microsoft.PowerShell.Core":
			version = ""
		case "CimCmdlets":
			version = "1.0.0.0"
		}
		if c.kind == "Application" {
			version = "10.0." + p.m.h.build() + ".1"
		}
		objs = append(objs, psObj{typ: "System.Management.Automation.CommandInfo", props: []kv{{"CommandType", c.kind},
			{"Name", c.name}, {"Version", version}, {"Source", c.source}}})
	}
	if len(objs) == 0 && pat != "" && !strings.ContainsAny(pat, "*?[") {
		return psResult{}, [][]string{notImplemented(pat, st)}
	}
	return psResult{objs: objs, view: []string{"CommandType", "Name", "Version", "Source"}}, nil
}

// help is Get-Help [NAME] (help, man): short, and honest about it.
func (p *psProcess) help(arg string, st statement) (string, [][]string) {
	name := ""
	for _, t := range psTokens(arg) {
		if !strings.HasPrefix(t, "-") {
			name = t
			break
		}
	}
	if name == "" {
		return "\r\nTOPIC\r\n    Windows PowerShell Help System\r\n\r\nSHORT DESCRIPTION\r\n    Displays help about Windows PowerShell cmdlets and concepts.\r\n\r\n" +
			"    The simulated host keeps its help short: Get-Command lists the commands it runs,\r\n" +
			"    Get-Help NAME gives each one's synopsis.\r\n\r\n", nil
	}
	c, ok := paneCommandFor(name)
	if !ok {
		return "", [][]string{cmdletError("Get-Help", "Get-Help could not find "+name+" in a help file in this session. (The simulated host does not implement "+name+".)",
			"ResourceUnavailable", name, "HelpNotFoundException", "HelpNotFound,Microsoft.PowerShell.Commands.GetHelpCommand", st)}
	}
	alias := ""
	if len(c.aliases) > 0 {
		alias = "\r\nALIASES\r\n    " + strings.Join(c.aliases, "\r\n    ") + "\r\n"
	}
	return "\r\nNAME\r\n    " + c.name + "\r\n\r\nSYNOPSIS\r\n    " + c.synopsis + "\r\n" + alias +
		"\r\nREMARKS\r\n    The simulated host shows the synopsis only.\r\n\r\n", nil
}

// psVersionTable is $PSVersionTable on Windows PowerShell 5.1.
func (p *psProcess) psVersionTable() psResult {
	v := psVersion(p.m.h)
	build := strings.SplitN(v, ".", 3)
	rows := []kv{{"PSVersion", v}, {"PSEdition", "Desktop"}, {"PSCompatibleVersions", "{1.0, 2.0, 3.0, 4.0...}"},
		{"BuildVersion", "10.0." + build[2]}, {"CLRVersion", "4.0.30319.42000"}, {"WSManStackVersion", "3.0"},
		{"PSRemotingProtocolVersion", "2.3"}, {"SerializationVersion", "1.1.0.1"}}
	if p.m.h.hp.legacy {
		rows[5] = kv{"WSManStackVersion", "3.0"}
	}
	var objs []psObj
	for _, r := range rows {
		objs = append(objs, psObj{typ: "System.Collections.DictionaryEntry", props: []kv{{"Name", r.k}, {"Value", r.v}}})
	}
	return psResult{objs: objs, view: []string{"Name", "Value"}}
}

// filter runs one stage after the first.
func (p *psProcess) filter(in psResult, lw, word, arg string, st statement) (psResult, []string) {
	if in.isTxt {
		switch lw {
		case "out-string", "out-host", "out-default", "ft", "format-table", "fl", "format-list":
			return in, nil
		}
		return in, []string{"The simulated host pipes text only to Out-String or Out-Host (" + word + " is not implemented for text)."}
	}
	toks := psTokens(arg)
	switch lw {
	case "select-object", "select":
		return selectObjects(in, toks)
	case "where-object", "where", "?":
		return whereObjects(in, arg)
	case "sort-object", "sort":
		return sortObjects(in, toks), nil
	case "measure-object", "measure":
		return measureObjects(in, toks), nil
	case "format-table", "ft":
		out := in
		out.list = false
		if props := propArgs(toks); len(props) > 0 {
			out.view = props
		} else if out.view == nil && len(in.objs) > 0 {
			out.view = propNames(in.objs[0])
		}
		return out, nil
	case "format-list", "fl":
		out := in
		out.list, out.group = true, ""
		props := propArgs(toks)
		switch {
		case len(props) == 1 && props[0] == "*", len(props) == 0 && len(in.objs) > 0:
			out.view = propNames(in.objs[0])
			if len(props) == 0 && in.view != nil {
				out.view = in.view
			}
		default:
			out.view = props
		}
		return out, nil
	case "out-string", "out-host", "out-default":
		return in, nil
	}
	if _, ok := paneCommandFor(word); ok {
		return in, []string{"The simulated host does not take pipeline input into " + word + "."}
	}
	return in, notImplemented(word, st)
}

// propArgs are the property names among a cmdlet's arguments (positional
// or -Property), without the switches.
func propArgs(toks []string) []string {
	var out []string
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		lt := strings.ToLower(t)
		switch {
		case lt == "-property" || lt == "-p":
		case lt == "-first" || lt == "-last" || lt == "-skip" || lt == "-expandproperty" || lt == "-groupby":
			i++
		case strings.HasPrefix(lt, "-"):
		default:
			out = append(out, t)
		}
	}
	return out
}

func propNames(o psObj) []string {
	out := make([]string, len(o.props))
	for i, p := range o.props {
		out[i] = p.k
	}
	return out
}

// selectObjects is Select-Object [-Property] P,... [-First N] [-Last N]
// [-Skip N] [-ExpandProperty P].
func selectObjects(in psResult, toks []string) (psResult, []string) {
	first, last, skip, expand := -1, -1, 0, ""
	for i := 0; i+1 < len(toks); i++ {
		n, err := strconv.Atoi(toks[i+1])
		switch strings.ToLower(toks[i]) {
		case "-first":
			if err != nil {
				return in, []string{`Select-Object : Cannot bind parameter 'First'. Cannot convert value "` + toks[i+1] + `" to type "System.Int32".`}
			}
			first = n
		case "-last":
			if err != nil {
				return in, []string{`Select-Object : Cannot bind parameter 'Last'. Cannot convert value "` + toks[i+1] + `" to type "System.Int32".`}
			}
			last = n
		case "-skip":
			skip = max(n, 0)
		case "-expandproperty":
			expand = toks[i+1]
		}
	}
	objs := in.objs
	objs = objs[min(skip, len(objs)):]
	if first >= 0 {
		objs = objs[:min(first, len(objs))]
	}
	if last >= 0 {
		objs = objs[max(len(objs)-last, 0):]
	}
	out := psResult{objs: objs, view: in.view, list: in.list, group: in.group}
	if expand != "" {
		var b strings.Builder
		for _, o := range objs {
			if v, ok := o.get(expand); ok {
				b.WriteString(cell(v) + "\r\n")
			} else {
				return in, []string{`Select-Object : Property "` + expand + `" cannot be found.`}
			}
		}
		return psResult{text: b.String(), isTxt: true}, nil
	}
	if props := propArgs(toks); len(props) > 0 {
		var sel []psObj
		for _, o := range objs {
			n := psObj{typ: "Selected." + o.typ}
			for _, pn := range props {
				if pn == "*" {
					n.props = append(n.props, o.props...)
					continue
				}
				v, _ := o.get(pn)
				name := pn
				for _, p := range o.props {
					if strings.EqualFold(p.k, pn) {
						name = p.k
					}
				}
				n.props = append(n.props, kv{name, v})
			}
			sel = append(sel, n)
		}
		// Selected objects lose their type's view: 4 properties or fewer
		// are a table, more a list.
		return psResult{objs: sel}, nil
	}
	return out, nil
}

// whereObjects is Where-Object { $_.P -op V [-and|-or ...] } or
// Where-Object P -op V.
func whereObjects(in psResult, arg string) (psResult, []string) {
	expr := strings.TrimSpace(arg)
	if strings.HasPrefix(strings.ToLower(expr), "-filterscript") {
		expr = strings.TrimSpace(expr[len("-filterscript"):])
	}
	if strings.HasPrefix(expr, "{") && strings.HasSuffix(expr, "}") {
		expr = strings.TrimSpace(expr[1 : len(expr)-1])
	} else {
		expr = "$_." + expr
	}
	conds, joins, err := parseConditions(expr)
	if err != "" {
		return in, []string{"Where-Object : the simulated host does not implement this condition: " + err +
			" (it compares properties: { $_.Status -eq 'Running' -and $_.Name -like 'W*' })"}
	}
	out := psResult{view: in.view, list: in.list, group: in.group}
	for _, o := range in.objs {
		ok := conds[0].holds(o)
		for i, j := range joins {
			if j == "-and" {
				ok = ok && conds[i+1].holds(o)
			} else {
				ok = ok || conds[i+1].holds(o)
			}
		}
		if ok {
			out.objs = append(out.objs, o)
		}
	}
	return out, nil
}

// condition is $_.Prop -op value.
type condition struct {
	prop, op, value string
	neg             bool
}

func parseConditions(expr string) ([]condition, []string, string) {
	toks := psTokens(expr)
	var conds []condition
	var joins []string
	for i := 0; i < len(toks); {
		c := condition{}
		if strings.EqualFold(toks[i], "-not") || toks[i] == "!" {
			c.neg = true
			i++
		}
		if i >= len(toks) {
			return nil, nil, expr
		}
		lhs := toks[i]
		if !strings.HasPrefix(strings.ToLower(lhs), "$_.") && !strings.HasPrefix(strings.ToLower(lhs), "$psitem.") {
			return nil, nil, lhs
		}
		c.prop = lhs[strings.IndexByte(lhs, '.')+1:]
		i++
		if i+1 >= len(toks) {
			if i == len(toks) { // a bare property: true when set
				c.op = "-ne"
				conds = append(conds, c)
				break
			}
			return nil, nil, expr
		}
		c.op = strings.ToLower(toks[i])
		switch c.op {
		case "-eq", "-ne", "-gt", "-ge", "-lt", "-le", "-like", "-notlike", "-match", "-notmatch", "-ieq", "-ceq":
		default:
			return nil, nil, toks[i]
		}
		c.value = toks[i+1]
		i += 2
		conds = append(conds, c)
		if i < len(toks) {
			j := strings.ToLower(toks[i])
			if j != "-and" && j != "-or" {
				return nil, nil, toks[i]
			}
			joins = append(joins, j)
			i++
		}
	}
	if len(conds) == 0 || len(joins) != len(conds)-1 {
		return nil, nil, expr
	}
	return conds, joins, ""
}

func (c condition) holds(o psObj) bool {
	v, _ := o.get(c.prop)
	s := cell(v)
	want := c.value
	if strings.EqualFold(want, "$null") {
		want = ""
	}
	var ok bool
	fa, errA := strconv.ParseFloat(s, 64)
	fb, errB := strconv.ParseFloat(want, 64)
	num := errA == nil && errB == nil
	switch c.op {
	case "-eq", "-ieq":
		ok = strings.EqualFold(s, want) || num && fa == fb
	case "-ceq":
		ok = s == want
	case "-ne":
		ok = !strings.EqualFold(s, want) && !(num && fa == fb)
	case "-gt":
		ok = num && fa > fb || !num && strings.ToLower(s) > strings.ToLower(want)
	case "-ge":
		ok = num && fa >= fb || !num && strings.ToLower(s) >= strings.ToLower(want)
	case "-lt":
		ok = num && fa < fb || !num && strings.ToLower(s) < strings.ToLower(want)
	case "-le":
		ok = num && fa <= fb || !num && strings.ToLower(s) <= strings.ToLower(want)
	case "-like", "-notlike":
		m, _ := path.Match(strings.ToLower(want), strings.ToLower(s))
		ok = m == (c.op == "-like")
	case "-match", "-notmatch":
		ok = strings.Contains(strings.ToLower(s), strings.ToLower(want)) == (c.op == "-match")
	}
	return ok != c.neg
}

// sortObjects is Sort-Object [-Property] P [-Descending].
func sortObjects(in psResult, toks []string) psResult {
	desc := false
	for _, t := range toks {
		if strings.EqualFold(t, "-descending") || strings.EqualFold(t, "-desc") {
			desc = true
		}
	}
	props := propArgs(toks)
	out := in
	out.objs = slices.Clone(in.objs)
	out.group = ""
	slices.SortStableFunc(out.objs, func(a, b psObj) int {
		keys := props
		if len(keys) == 0 && len(a.props) > 0 {
			keys = []string{a.props[0].k}
		}
		for _, k := range keys {
			va, _ := a.get(k)
			vb, _ := b.get(k)
			c := compareCells(cell(va), cell(vb))
			if desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	return out
}

func compareCells(a, b string) int {
	fa, errA := strconv.ParseFloat(a, 64)
	fb, errB := strconv.ParseFloat(b, 64)
	if errA == nil && errB == nil {
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	}
	return strings.Compare(strings.ToLower(a), strings.ToLower(b))
}

// measureObjects is Measure-Object [-Property P] [-Sum] [-Average]
// [-Maximum] [-Minimum].
func measureObjects(in psResult, toks []string) psResult {
	props := propArgs(toks)
	row := []kv{{"Count", len(in.objs)}}
	flags := map[string]bool{}
	for _, t := range toks {
		flags[strings.ToLower(t)] = true
	}
	var sum, mx, mn float64
	n := 0
	if len(props) > 0 {
		for _, o := range in.objs {
			v, _ := o.get(props[0])
			f, err := strconv.ParseFloat(cell(v), 64)
			if err != nil {
				continue
			}
			if n == 0 || f > mx {
				mx = f
			}
			if n == 0 || f < mn {
				mn = f
			}
			sum += f
			n++
		}
	}
	stat := func(flag string, v float64) any {
		if !flags[flag] || n == 0 {
			return ""
		}
		return v
	}
	avg := 0.0
	if n > 0 {
		avg = sum / float64(n)
	}
	prop := ""
	if len(props) > 0 {
		prop = props[0]
	}
	row = append(row, kv{"Average", stat("-average", avg)}, kv{"Sum", stat("-sum", sum)}, kv{"Maximum", stat("-maximum", mx)},
		kv{"Minimum", stat("-minimum", mn)}, kv{"Property", prop})
	return psResult{objs: []psObj{{typ: "Microsoft.PowerShell.Commands.GenericMeasureInfo", props: row}}, list: true,
		view: []string{"Count", "Average", "Sum", "Maximum", "Minimum", "Property"}}
}

// cell is a value as a table or list shows it.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case psEnum:
		return string(x)
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []string:
		return "{" + strings.Join(x, ", ") + "}"
	}
	return fmt.Sprint(v)
}

// psEnum is an enum value (a service's Status, StartType): text that a
// table of selected properties right-aligns, as 5.1 does (a type's own
// view aligns it left).
type psEnum string

// rightAligned reports whether a table right-aligns v in objects of type
// typ: numbers always, enums in selected objects (no view of their own).
func rightAligned(v any, typ string) bool {
	if _, ok := v.(psEnum); ok {
		return strings.HasPrefix(typ, "Selected.")
	}
	return numeric(v)
}

// numeric reports a value a table right-aligns.
func numeric(v any) bool {
	switch v.(type) {
	case int, int64, float64, uint64:
		return true
	}
	return false
}

// formatResult prints objects as 5.1's Out-String does: the default view
// of their type, else a table for 4 properties or fewer, a list for more.
func formatResult(r psResult) string {
	if r.isTxt {
		return r.text
	}
	if len(r.objs) == 0 {
		return ""
	}
	cols := r.view
	if cols == nil {
		cols = propNames(r.objs[0])
	}
	if r.list || r.view == nil && len(cols) > 4 {
		return formatList(r.objs, cols)
	}
	if r.group == "" {
		return formatTable(r.objs, cols)
	}
	var b strings.Builder
	start := 0
	for i := 1; i <= len(r.objs); i++ {
		if i < len(r.objs) && cell(first(r.objs[i], r.group)) == cell(first(r.objs[start], r.group)) {
			continue
		}
		b.WriteString("\r\n\r\n    " + r.group + ": " + cell(first(r.objs[start], r.group)) + "\r\n\r\n")
		b.WriteString(formatTable(r.objs[start:i], cols))
		start = i
	}
	return b.String()
}

func first(o psObj, k string) any { v, _ := o.get(k); return v }

func formatTable(objs []psObj, cols []string) string {
	width := make([]int, len(cols))
	right := make([]bool, len(cols))
	for i, c := range cols {
		width[i] = len(c)
		for _, o := range objs {
			v, _ := o.get(c)
			width[i] = max(width[i], len(cell(v)))
			if rightAligned(v, o.typ) {
				right[i] = true
			}
		}
		width[i] = min(width[i], 60)
	}
	if len(objs) > 0 && objs[0].typ == "System.Collections.DictionaryEntry" && len(cols) > 1 {
		width[0] = max(width[0], 30) // a hashtable's view: Name is 30 wide
	}
	var b strings.Builder
	b.WriteString("\r\n")
	line := func(vals []string) {
		var parts []string
		for i, v := range vals {
			if len(v) > width[i] {
				v = v[:width[i]-3] + "..."
			}
			if right[i] {
				parts = append(parts, strings.Repeat(" ", width[i]-len(v))+v)
			} else if i < len(vals)-1 {
				parts = append(parts, v+strings.Repeat(" ", width[i]-len(v)))
			} else {
				parts = append(parts, v)
			}
		}
		b.WriteString(strings.TrimRight(strings.Join(parts, " "), " ") + "\r\n")
	}
	line(cols)
	dashes := make([]string, len(cols))
	for i, c := range cols {
		dashes[i] = strings.Repeat("-", len(c))
		if right[i] {
			dashes[i] = strings.Repeat(" ", width[i]-len(c)) + dashes[i]
		}
	}
	b.WriteString(strings.TrimRight(strings.Join(padded(dashes, width, right), " "), " ") + "\r\n")
	for _, o := range objs {
		vals := make([]string, len(cols))
		for i, c := range cols {
			v, _ := o.get(c)
			vals[i] = cell(v)
		}
		line(vals)
	}
	b.WriteString("\r\n\r\n")
	return b.String()
}

func padded(vals []string, width []int, right []bool) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		if right[i] || i == len(vals)-1 {
			out[i] = v
			continue
		}
		out[i] = v + strings.Repeat(" ", max(width[i]-len(v), 0))
	}
	return out
}

func formatList(objs []psObj, cols []string) string {
	w := 0
	for _, c := range cols {
		w = max(w, len(c))
	}
	var b strings.Builder
	b.WriteString("\r\n")
	for _, o := range objs {
		for _, c := range cols {
			v, _ := o.get(c)
			name := c
			for _, p := range o.props {
				if strings.EqualFold(p.k, c) {
					name = p.k
				}
			}
			b.WriteString(name + strings.Repeat(" ", w-len(name)) + " : " + cell(v) + "\r\n")
		}
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}
