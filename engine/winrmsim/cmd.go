package winrmsim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Windows' command-line limits.
const (
	// maxCreateProcessLine is CreateProcess's lpCommandLine limit,
	// 32,767 characters with the terminating NUL.
	maxCreateProcessLine = 32767
	// maxCmdExeLine is cmd.exe's, 8,191 with the NUL.
	maxCmdExeLine = 8191
)

// newProcess picks the program for a command line the way winrs runs it:
// through `cmd.exe /c` unless WINRS_SKIP_CMD_SHELL is set, in which case
// the first word must be a program, not a cmd.exe built-in. A command
// line over CreateProcess's limit is refused with the shell plugin's
// fault; one over cmd.exe's limit starts cmd.exe, which refuses to run it
// ("The command line is too long.", exit 1, nothing on stdout).
func newProcess(m *machine, line string, skipCmdShell bool) (process, *fault) {
	if len(line) >= maxCreateProcessLine {
		return nil, faultCommandLineTooLong()
	}
	if !skipCmdShell && len(line) >= maxCmdExeLine {
		return &fixedOutput{stderr: "The command line is too long.\r\n", code: 1}, nil
	}
	return dispatch(m, line, !skipCmdShell)
}

// dispatch builds the process for one command line. viaCmd says cmd.exe
// interprets the line: it expands %VARS%, runs built-ins and sequences
// commands with &, && and ||.
func dispatch(m *machine, line string, viaCmd bool) (process, *fault) {
	line = strings.TrimSpace(line)
	if viaCmd {
		line = expandEnv(m, line)
		if segs := splitSequence(line); len(segs) > 1 {
			return runSequence(m, segs), nil
		}
	}
	prog, rest := firstWord(line)
	switch programName(prog) {
	case "powershell":
		return newPowerShellProcess(m, rest), nil
	case "cmd":
		if script, ok := cmdSwitchC(rest); ok {
			return dispatch(m, script, true)
		}
		return &fixedOutput{stdout: "Microsoft Windows [Version " + m.h.release.version + "." + strconv.Itoa(m.h.ubr) + "]\r\n(c) Microsoft Corporation. All rights reserved.\r\n\r\nC:\\Users\\" + m.user + ">"}, nil
	case "more":
		return &lineFilter{}, nil
	case "sort":
		return &lineFilter{sorted: true}, nil
	case "findstr":
		return newFindstr(rest), nil
	}
	out, errOut, code, builtin := instant(m, prog, rest)
	if builtin && !viaCmd {
		return nil, faultFileNotFound()
	}
	if code == notFoundExitCode && !viaCmd {
		return nil, faultFileNotFound()
	}
	return &fixedOutput{stdout: out, stderr: errOut, code: code}, nil
}

// notFoundExitCode is what cmd.exe exits with for an unknown command.
const notFoundExitCode = 9009

// instant runs a command that answers at once. builtin reports a cmd.exe
// built-in (which does not exist without cmd.exe).
func instant(m *machine, prog, rest string) (stdout, stderr string, code int, builtin bool) {
	h := m.h
	if len(prog) >= 5 && strings.EqualFold(prog[:5], "echo.") {
		// echo. prints an empty line; echo.text prints text.
		out := prog[5:]
		if rest != "" {
			out += " " + rest
		}
		return out + "\r\n", "", 0, true
	}
	switch name := programName(prog); name {
	case "hostname":
		return h.name + "\r\n", "", 0, false
	case "whoami":
		return strings.ToLower(h.name) + `\` + m.user + "\r\n", "", 0, false
	case "ipconfig":
		return ipconfig(h), "", 0, false
	case "echo":
		if rest == "" {
			return "ECHO is on.\r\n", "", 0, true
		}
		return rest + "\r\n", "", 0, true
	case "ver":
		return "\r\nMicrosoft Windows [Version " + h.release.version + "." + strconv.Itoa(h.ubr) + "]\r\n", "", 0, true
	case "cd", "chdir":
		return profileDir(m) + "\r\n", "", 0, true
	case "rem":
		return "", "", 0, true
	case "set":
		return set(m, rest)
	case "exit":
		f := strings.Fields(rest)
		if len(f) > 0 && strings.EqualFold(f[0], "/b") {
			f = f[1:]
		}
		if len(f) > 0 {
			n, _ := strconv.Atoi(f[0])
			return "", "", n, true
		}
		return "", "", 0, true
	}
	return "", "'" + prog + "' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", notFoundExitCode, false
}

// runSequence evaluates `a & b`, `a && b` and `a || b` for commands that
// answer at once; anything else in a sequence is beyond the simulator.
func runSequence(m *machine, segs []segment) process {
	var out, errOut strings.Builder
	code := 0
	for i, s := range segs {
		if i > 0 && (s.op == "&&" && code != 0 || s.op == "||" && code == 0) {
			continue
		}
		prog, rest := firstWord(strings.TrimSpace(s.text))
		switch programName(prog) {
		case "powershell", "cmd", "more", "sort", "findstr":
			errOut.WriteString("The simulated host cannot run '" + prog + "' inside a command sequence.\r\n")
			code = 1
			continue
		}
		o, e, c, _ := instant(m, prog, rest)
		out.WriteString(o)
		errOut.WriteString(e)
		code = c
	}
	return &fixedOutput{stdout: out.String(), stderr: errOut.String(), code: code}
}

// segment is one command of a cmd.exe sequence and the operator before it.
type segment struct {
	op   string // "", "&", "&&" or "||"
	text string
}

// splitSequence splits at &, && and || outside double quotes.
func splitSequence(line string) []segment {
	var segs []segment
	op := ""
	start := 0
	quoted := false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '&' || (c == '|' && i+1 < len(line) && line[i+1] == '|'):
			segs = append(segs, segment{op: op, text: strings.TrimSpace(line[start:i])})
			op = string(c)
			if i+1 < len(line) && line[i+1] == c {
				op += string(c)
				i++
			}
			start = i + 1
		}
	}
	return append(segs, segment{op: op, text: strings.TrimSpace(line[start:])})
}

// firstWord splits a command line into its program (quotes removed) and
// the raw rest.
func firstWord(line string) (prog, rest string) {
	line = strings.TrimLeft(line, " \t")
	if strings.HasPrefix(line, `"`) {
		if end := strings.IndexByte(line[1:], '"'); end >= 0 {
			return line[1 : end+1], strings.TrimLeft(line[end+2:], " \t")
		}
		return line[1:], ""
	}
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		return line[:i], strings.TrimLeft(line[i+1:], " \t")
	}
	return line, ""
}

// programName reduces C:\Windows\System32\HOSTNAME.EXE to hostname.
func programName(prog string) string {
	name := strings.ToLower(prog)
	if i := strings.LastIndexAny(name, `\/`); i >= 0 {
		name = name[i+1:]
	}
	for _, ext := range []string{".exe", ".com"} {
		name = strings.TrimSuffix(name, ext)
	}
	return name
}

// splitArgs splits a command line into arguments following the rules of
// CommandLineToArgvW: whitespace separates, double quotes group, and
// backslashes escape a quote only when they precede one.
func splitArgs(s string) []string {
	var args []string
	var cur strings.Builder
	inArg, quoted := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			n := 0
			for i < len(s) && s[i] == '\\' {
				n++
				i++
			}
			if i < len(s) && s[i] == '"' {
				cur.WriteString(strings.Repeat(`\`, n/2))
				if n%2 == 1 {
					cur.WriteByte('"')
				} else {
					quoted = !quoted
				}
			} else {
				cur.WriteString(strings.Repeat(`\`, n))
				i--
			}
			inArg = true
		case c == '"':
			quoted = !quoted
			inArg = true
		case (c == ' ' || c == '\t') && !quoted:
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args
}

// cmdSwitchC finds `/c command` (or /k) after cmd.exe's other switches.
func cmdSwitchC(rest string) (string, bool) {
	for {
		rest = strings.TrimLeft(rest, " \t")
		if len(rest) < 2 || rest[0] != '/' {
			return "", false
		}
		sw, after := firstWord(rest)
		switch strings.ToLower(sw) {
		case "/c", "/k":
			script := strings.TrimSpace(after)
			// cmd /s /c "..." strips the outer quotes.
			if len(script) >= 2 && script[0] == '"' && script[len(script)-1] == '"' {
				script = script[1 : len(script)-1]
			}
			return script, true
		}
		rest = after
	}
}

// newFindstr builds `findstr [/i] [/v] [/c:"text"] pattern`, reading stdin.
func newFindstr(rest string) process {
	var fold, invert bool
	var patterns []string
	literal := ""
	for _, a := range splitArgs(rest) {
		la := strings.ToLower(a)
		switch {
		case la == "/i":
			fold = true
		case la == "/v":
			invert = true
		case strings.HasPrefix(la, "/c:"):
			literal = a[3:]
		case strings.HasPrefix(a, "/"):
		default:
			patterns = append(patterns, strings.Fields(a)...)
		}
	}
	if literal != "" {
		patterns = []string{literal}
	}
	if len(patterns) == 0 {
		return &fixedOutput{stderr: "FINDSTR: Bad command line\r\n", code: 2}
	}
	return &lineFilter{keep: func(line string) bool {
		hay := line
		if fold {
			hay = strings.ToLower(line)
		}
		hit := false
		for _, p := range patterns {
			if fold {
				p = strings.ToLower(p)
			}
			if strings.Contains(hay, p) {
				hit = true
				break
			}
		}
		return hit != invert
	}}
}

// environment is the cmd.exe environment of a WinRS session on the host.
func environment(m *machine) [][2]string {
	h := m.h
	cpus := 4
	if h.server {
		cpus = 8
	}
	return [][2]string{
		{"ALLUSERSPROFILE", `C:\ProgramData`},
		{"APPDATA", profileDir(m) + `\AppData\Roaming`},
		{"COMPUTERNAME", h.name},
		{"ComSpec", `C:\Windows\system32\cmd.exe`},
		{"NUMBER_OF_PROCESSORS", strconv.Itoa(cpus)},
		{"OS", "Windows_NT"},
		{"Path", `C:\Windows\system32;C:\Windows;C:\Windows\System32\Wbem;C:\Windows\System32\WindowsPowerShell\v1.0\`},
		{"PATHEXT", ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC"},
		{"PROCESSOR_ARCHITECTURE", "AMD64"},
		{"PROMPT", "$P$G"},
		{"SystemDrive", "C:"},
		{"SystemRoot", `C:\Windows`},
		{"TEMP", profileDir(m) + `\AppData\Local\Temp`},
		{"USERDOMAIN", h.name},
		{"USERNAME", m.user},
		{"USERPROFILE", profileDir(m)},
		{"windir", `C:\Windows`},
	}
}

// profileDir is the session's profile: with WINRS_NOPROFILE the user's
// profile is not loaded and the default one stands in.
func profileDir(m *machine) string {
	if m.noProf {
		return `C:\Users\Default`
	}
	return `C:\Users\` + m.user
}

// getenv looks a variable up case-insensitively, as Windows does.
func getenv(m *machine, name string) (string, bool) {
	for _, kv := range environment(m) {
		if strings.EqualFold(kv[0], name) {
			return kv[1], true
		}
	}
	return "", false
}

// expandEnv replaces %NAME% with the variable's value; unknown names stay.
func expandEnv(m *machine, s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i+1:], '%')
		if j < 0 {
			break
		}
		name := s[i+1 : i+1+j]
		if v, ok := getenv(m, name); ok && name != "" {
			b.WriteString(s[:i])
			b.WriteString(v)
			s = s[i+j+2:]
			continue
		}
		b.WriteString(s[:i+1])
		s = s[i+1:]
	}
	b.WriteString(s)
	return b.String()
}

// set is cmd.exe's `set [prefix]`.
func set(m *machine, rest string) (string, string, int, bool) {
	prefix := strings.TrimSpace(rest)
	if strings.Contains(prefix, "=") {
		return "", "", 0, true // assignments have no output
	}
	env := environment(m)
	slices.SortFunc(env, func(a, b [2]string) int {
		return strings.Compare(strings.ToLower(a[0]), strings.ToLower(b[0]))
	})
	var b strings.Builder
	for _, kv := range env {
		if strings.HasPrefix(strings.ToLower(kv[0]), strings.ToLower(prefix)) {
			b.WriteString(kv[0] + "=" + kv[1] + "\r\n")
		}
	}
	if b.Len() == 0 {
		return "", "Environment variable " + prefix + " not defined\r\n", 1, true
	}
	return b.String(), "", 0, true
}

// ipconfig prints the host's (simulated, never listened on) LAN address.
func ipconfig(h *host) string {
	parts := strings.Split(h.lanIP, ".")
	gw := parts[0] + "." + parts[1] + ".0.1"
	return fmt.Sprintf("\r\nWindows IP Configuration\r\n\r\n\r\nEthernet adapter Ethernet:\r\n\r\n"+
		"   Connection-specific DNS Suffix  . : %s.corp.example\r\n"+
		"   Link-local IPv6 Address . . . . . : fe80::%x:%x:%x:%x%%12\r\n"+
		"   IPv4 Address. . . . . . . . . . . : %s\r\n"+
		"   Subnet Mask . . . . . . . . . . . : 255.255.0.0\r\n"+
		"   Default Gateway . . . . . . . . . : %s\r\n",
		h.site, h.seed>>48, (h.seed>>32)&0xffff, (h.seed>>16)&0xffff, h.seed&0xffff, h.lanIP, gw)
}
