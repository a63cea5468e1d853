package engine

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Catalog action names (ActionSpec.Name).
const (
	ActReboot      = "reboot"
	ActShutdown    = "shutdown"
	ActWake        = "wake"
	ActLock        = "lock"
	ActLogoff      = "logoff"
	ActEnableRDP   = "enable-rdp"
	ActDisableRDP  = "disable-rdp"
	ActService     = "service"
	ActProcessKill = "process-kill"
	ActClearTemp   = "clear-temp"
	ActFlushDNS    = "flush-dns"
	ActGPUpdate    = "gpupdate"
	ActRegistrySet = "registry-set"
	ActFilePush    = "file-push"
	ActFilePull    = "file-pull"
	ActRunScript   = "run-script"
)

// MaxFileCopy is the largest file FileCopy pushes or pulls.
const MaxFileCopy = 10 << 20

// fileChunk is the size of one FileCopy chunk.
const fileChunk = 64 << 10

// registryTypes are the value types registry-set writes.
var registryTypes = []string{"String", "ExpandString", "MultiString", "DWord", "QWord", "Binary"}

// catalog is built on each call: callers may modify what they get.
func catalog() []ActionSpec {
	return []ActionSpec{
		{Name: ActReboot, Title: "Restart", Destructive: true, script: "action_reboot",
			Description: "Restart the host (shutdown /r, at least 2 seconds out so the answer gets back). It goes offline and returns with a new boot time.",
			Params:      []ParamSpec{{Name: "delay_s", Type: "int", Default: "0", Help: "seconds before the restart"}}},
		{Name: ActShutdown, Title: "Shut down", Destructive: true, script: "action_shutdown",
			Description: "Power the host off (shutdown /s). It stays offline until a Wake-on-LAN packet reaches it."},
		{Name: ActWake, Title: "Wake-on-LAN",
			Description: "Send a Wake-on-LAN magic packet for each device's MAC address from this machine to actions.wol_address (UDP). Needs no WinRM."},
		{Name: ActLock, Title: "Lock workstation", script: "action_lock",
			Description: "Lock the interactive session (disconnects it with tsdiscon; the user signs in again)."},
		{Name: ActLogoff, Title: "Log off users", Destructive: true, script: "action_logoff",
			Description: "Log off every user session (quser, logoff). Unsaved work is lost."},
		{Name: ActEnableRDP, Title: "Enable Remote Desktop", script: "action_enable_rdp",
			Description: "Allow Remote Desktop connections (fDenyTSConnections = 0) and enable the Remote Desktop firewall rules."},
		{Name: ActDisableRDP, Title: "Disable Remote Desktop", Destructive: true, script: "action_disable_rdp",
			Description: "Refuse Remote Desktop connections (fDenyTSConnections = 1) and disable the Remote Desktop firewall rules."},
		{Name: ActService, Title: "Start, stop or restart a service", script: "action_service_control",
			Description: "Start, stop or restart a Windows service by its service name (Spooler, wuauserv). Stopping needs confirmation. " +
				"A name with * ? [ ] is refused unless pattern=true: that run only lists what the pattern matches; a second run with matches=NAME,... (confirmed) changes those.",
			Params: []ParamSpec{
				{Name: "name", Type: "string", Required: true, Help: "service name, e.g. Spooler"},
				{Name: "op", Type: "choice", Default: "restart", Required: true, Choices: []string{"start", "stop", "restart"}},
				patternParam, matchesParam("services"),
			},
			confirmWhen: func(p map[string]string) bool { return p["op"] == "stop" }, wildcards: true},
		{Name: ActProcessKill, Title: "Kill a process", Destructive: true, script: "action_process_kill",
			Description: "Stop every process with a name (without .exe), or one process by PID (Stop-Process -Force). Give name or pid. " +
				"A name with * ? [ ] is refused unless pattern=true: that run only lists what the pattern matches; a second run with matches=NAME,... (confirmed) stops those.",
			Params: []ParamSpec{
				{Name: "name", Type: "string", Help: "process name without .exe, e.g. notepad"},
				{Name: "pid", Type: "int", Help: "process id"},
				patternParam, matchesParam("processes"),
			}, wildcards: true},
		{Name: ActClearTemp, Title: "Clear temp files", script: "action_clear_temp",
			Description: "Remove the files under %TEMP% and %windir%\\Temp (files in use are skipped)."},
		{Name: ActFlushDNS, Title: "Flush DNS cache", script: "action_flush_dns",
			Description: "Clear the DNS client cache (Clear-DnsClientCache, as ipconfig /flushdns)."},
		{Name: ActGPUpdate, Title: "Group Policy update", script: "action_gpupdate",
			Description: "Reapply group policy now (gpupdate /force)."},
		{Name: ActRegistrySet, Title: "Set a registry value", Destructive: true, script: "action_registry_set",
			Description: "Create or overwrite a registry value; the key is created when missing. MultiString entries are separated by |, Binary is hex digits.",
			Params: []ParamSpec{
				{Name: "path", Type: "string", Required: true, Help: `key, e.g. HKLM:\SOFTWARE\Contoso`},
				{Name: "name", Type: "string", Required: true, Help: "value name"},
				{Name: "type", Type: "choice", Default: "String", Required: true, Choices: registryTypes},
				{Name: "value", Type: "string", Help: "the data"},
			}},
		{Name: ActFilePush, Title: "Copy a file to the host", script: "action_file_push",
			Description: "Push a local file (up to 10 MB) to a path on each host, in 64 KiB chunks; the SHA-256 of the whole file is checked on the host.",
			Params: []ParamSpec{
				{Name: "source", Type: "file", Required: true, Help: "local file to send"},
				{Name: "path", Type: "path", Required: true, Help: `destination on the host, e.g. C:\Temp\tool.msi`},
			}},
		{Name: ActFilePull, Title: "Copy a file from the host", script: "action_file_pull", single: true,
			Description: "Pull a file (up to 10 MB) from one host to a local path, in 64 KiB chunks, and check its SHA-256.",
			Params: []ParamSpec{
				{Name: "path", Type: "path", Required: true, Help: `file on the host, e.g. C:\Windows\WindowsUpdate.log`},
				{Name: "dest", Type: "string", Required: true, Help: "local file to write (must not exist)"},
			}},
		{Name: ActRunScript, Title: "Run a library script", open: true,
			Description: "Run a script from the library (rmm scripts list) with its parameters; the run records the version used.",
			Params: []ParamSpec{
				{Name: "script", Type: "string", Required: true, Help: "library script name"},
				{Name: "version", Type: "int", Help: "version to run (default: the latest)"},
			}},
	}
}

// Catalog returns the built-in actions (not a request: the catalog is public).
func Catalog() []ActionSpec { return catalog() }

// LookupAction returns the catalog entry called name.
func LookupAction(name string) (ActionSpec, bool) {
	for _, a := range catalog() {
		if a.Name == name {
			return a, true
		}
	}
	return ActionSpec{}, false
}

func actionNames() string {
	names := make([]string, 0, 16)
	for _, a := range catalog() {
		names = append(names, a.Name)
	}
	return strings.Join(names, ", ")
}

// NeedsConfirm reports whether these params make the action destructive
// (e.g. service op=stop). A pattern run that only lists its matches needs
// no confirmation; one that acts on the matches it names always does.
func (a ActionSpec) NeedsConfirm(params map[string]string) bool {
	p := a.WithDefaults(params)
	if a.wildcards && isTrue(p["pattern"]) {
		return strings.TrimSpace(p["matches"]) != ""
	}
	return a.Destructive || (a.confirmWhen != nil && a.confirmWhen(p))
}

// WithDefaults returns params with each missing parameter's default
// filled in (a copy; params is not changed).
func (a ActionSpec) WithDefaults(params map[string]string) map[string]string {
	return withDefaults(a.Params, params)
}

func withDefaults(specs []ParamSpec, params map[string]string) map[string]string {
	out := maps.Clone(params)
	if out == nil {
		out = map[string]string{}
	}
	for _, p := range specs {
		if _, ok := out[p.Name]; !ok && p.Default != "" {
			out[p.Name] = p.Default
		}
	}
	return out
}

// Validate checks params against the specs: "param NAME: reason" errors.
func (a ActionSpec) Validate(params map[string]string) error {
	if err := validateParams(a.Params, params, a.open); err != nil {
		return err
	}
	p := a.WithDefaults(params)
	if a.wildcards {
		if err := checkWildcards(p); err != nil {
			return err
		}
	}
	switch a.Name {
	case ActProcessKill:
		if (p["name"] == "") == (p["pid"] == "") {
			return fmt.Errorf("param name: give the process name or its pid, not both or neither")
		}
	case ActRegistrySet:
		if !registryPath(p["path"]) {
			return fmt.Errorf(`param path: %q is not a registry key such as HKLM:\SOFTWARE\Contoso`, p["path"])
		}
		if err := registryValue(p["type"], p["value"]); err != nil {
			return fmt.Errorf("param value: %w", err)
		}
	case ActFilePush:
		st, err := os.Stat(p["source"])
		switch {
		case err != nil:
			return fmt.Errorf("param source: %w", err)
		case !st.Mode().IsRegular():
			return fmt.Errorf("param source: %s is not a regular file", p["source"])
		case st.Size() > MaxFileCopy:
			return fmt.Errorf("param source: %s is %d bytes; FileCopy sends at most %d bytes (10 MB)", p["source"], st.Size(), MaxFileCopy)
		}
	case ActFilePull:
		if _, err := os.Lstat(p["dest"]); err == nil {
			return fmt.Errorf("param dest: %s exists; rmm does not overwrite local files", p["dest"])
		}
	}
	return nil
}

// validateParams checks params against specs; open allows parameters
// the specs do not name (a library script's own).
func validateParams(specs []ParamSpec, params map[string]string, open bool) error {
	known := make(map[string]ParamSpec, len(specs))
	for _, s := range specs {
		known[s.Name] = s
	}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if _, ok := known[k]; !ok && !open {
			names := make([]string, len(specs))
			for i, s := range specs {
				names[i] = s.Name
			}
			if len(names) == 0 {
				return fmt.Errorf("param %s: unknown (this action takes no parameters)", k)
			}
			return fmt.Errorf("param %s: unknown (want %s)", k, strings.Join(names, ", "))
		}
	}
	for _, s := range specs {
		v, ok := params[s.Name]
		if !ok || v == "" {
			if s.Required && s.Default == "" {
				return fmt.Errorf("param %s: required", s.Name)
			}
			continue
		}
		if err := checkParam(s, v); err != nil {
			return fmt.Errorf("param %s: %w", s.Name, err)
		}
	}
	return nil
}

// checkParam checks one value against its type.
func checkParam(s ParamSpec, v string) error {
	switch s.Type {
	case "int":
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
	case "bool":
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
	case "choice":
		if !slices.Contains(s.Choices, v) {
			return fmt.Errorf("%q is not one of %s", v, strings.Join(s.Choices, ", "))
		}
	case "string", "path", "file", "":
		if strings.ContainsAny(v, "\x00\r\n") && s.Type != "string" {
			return fmt.Errorf("%q holds a control character", v)
		}
	default:
		return fmt.Errorf("unknown type %q", s.Type)
	}
	return nil
}

// ParamTypes are the types a ParamSpec may have.
var ParamTypes = []string{"string", "int", "bool", "choice", "path", "file"}

// CheckParamSpecs checks a library script's parameter specs: names are
// PowerShell variable names, types known, defaults of the right type.
func CheckParamSpecs(specs []ParamSpec) error {
	seen := map[string]bool{}
	for _, s := range specs {
		if !psVarName(s.Name) {
			return fmt.Errorf("param %q: not a PowerShell variable name (letters, digits, _; not starting with a digit)", s.Name)
		}
		low := strings.ToLower(s.Name)
		if seen[low] {
			return fmt.Errorf("param %s: twice", s.Name)
		}
		seen[low] = true
		if low == "script" || low == "version" || low == "rmmparams" {
			return fmt.Errorf("param %s: reserved name", s.Name)
		}
		if !slices.Contains(ParamTypes, s.Type) {
			return fmt.Errorf("param %s: type %q is not one of %s", s.Name, s.Type, strings.Join(ParamTypes, ", "))
		}
		if s.Type == "choice" && len(s.Choices) == 0 {
			return fmt.Errorf("param %s: a choice needs choices", s.Name)
		}
		if s.Default != "" {
			if err := checkParam(s, s.Default); err != nil {
				return fmt.Errorf("param %s: default: %w", s.Name, err)
			}
		}
	}
	return nil
}

func psVarName(s string) bool {
	if s == "" || len(s) > 64 || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// registryPath reports a PowerShell registry path: HKLM:\..., HKCU:\...
func registryPath(p string) bool {
	for _, root := range []string{`HKLM:\`, `HKCU:\`, `HKCR:\`, `HKU:\`, `HKCC:\`, `Registry::`} {
		if len(p) > len(root) && strings.EqualFold(p[:len(root)], root) {
			return true
		}
	}
	return false
}

// unsignedText reports a decimal, or 0x hex, number that fits in bits.
func unsignedText(v string, bits int) bool {
	digits, base := v, 10
	if len(v) > 2 && (v[:2] == "0x" || v[:2] == "0X") {
		digits, base = v[2:], 16
	}
	if digits == "" || digits[0] == '+' || digits[0] == '-' || strings.Contains(digits, "_") {
		return false
	}
	_, err := strconv.ParseUint(digits, base, bits)
	return err == nil
}

// registryValue checks a value against its registry type.
func registryValue(typ, v string) error {
	switch typ {
	case "DWord":
		if !unsignedText(v, 32) {
			return fmt.Errorf("%q is not a DWord (0..4294967295, or hex 0x0..0xFFFFFFFF)", v)
		}
	case "QWord":
		if !unsignedText(v, 64) {
			return fmt.Errorf("%q is not a QWord (0..18446744073709551615, or hex 0x0..0xFFFFFFFFFFFFFFFF)", v)
		}
	case "Binary":
		if len(v)%2 != 0 || strings.IndexFunc(v, func(r rune) bool {
			return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F')
		}) >= 0 {
			return fmt.Errorf("%q is not hex digits in pairs", v)
		}
	}
	return nil
}
