package winrmsim

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// scriptMarker is the first line of every script the engine sends:
// `# rmm:script=<name> v<N>`. It may also follow a statement on the same
// line, because masterzen/winrm's Powershell() prepends
// "$ProgressPreference = 'SilentlyContinue';" to the script's first line.
var scriptMarker = regexp.MustCompile(`(?m)(?:^|;)[ \t]*#\s*rmm:script=([A-Za-z0-9_.-]+)\s+v(\d+)`)

// psArgErrorExitCode is what powershell.exe exits with when its own
// arguments are wrong (0xFFFD0000).
const psArgErrorExitCode = -196608

// clixmlProgress is the progress record Windows PowerShell writes to stderr
// the first time it loads modules in a session: it arrives on every
// -EncodedCommand run over WinRM, and it is not an error.
const clixmlProgress = `<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T><T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj>`

const (
	clixmlHeader = "#< CLIXML\r\n"
	clixmlOpen   = `<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">`
	clixmlClose  = `</Objs>`
)

// psProcess is powershell.exe, Windows PowerShell 5.1. It understands the
// command-line switches the engine and masterzen/winrm use, answers the
// engine's marked scripts as the real scripts would on this host, and runs
// a handful of simple statements for anything else.
type psProcess struct {
	interruptible
	m         *machine
	script    string
	encoded   bool // -EncodedCommand: errors go to stderr as CLIXML
	fromStdin bool // -Command - or no command: the script arrives on stdin
	argErr    string
	ready     time.Time // powershell.exe has started
	input     []byte
	vars      map[string]string // $name = value assignments (psstate.go)
	// session: the loop's session runspace (v3), whose state lasts from
	// line to line: the variables above, functions and the location.
	session bool
	funcs   map[string]string    // function name (lower case) -> its body
	objVars map[string]*psResult // $name = <pipeline>: the objects it holds (pane.go)
	cwd     string               // the current location; "" is the profile's default
	depth   int                  // function calls in progress (a bound on recursion)
}

func newPowerShell(m *machine, rest string) *psProcess {
	p := &psProcess{m: m}
	args := splitArgs(rest)
	haveCommand := false
loop:
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "" || (a[0] != '-' && a[0] != '/') {
			p.script = strings.Join(args[i:], " ")
			haveCommand = true
			break
		}
		name := strings.ToLower(a[1:])
		switch {
		case name == "":
			p.fromStdin = true
			haveCommand = true
			break loop
		case name == "ec" || strings.HasPrefix("encodedcommand", name):
			haveCommand = true
			if i+1 >= len(args) {
				p.argErr = "Missing argument for parameter EncodedCommand."
				break loop
			}
			script, err := decodeEncodedCommand(args[i+1])
			if err != nil {
				p.argErr = "Cannot process the command because the value specified with -EncodedCommand is not properly encoded. The value must be Base64 encoded."
				break loop
			}
			p.script, p.encoded = script, true
			i++
		case strings.HasPrefix("command", name):
			haveCommand = true
			if i+1 < len(args) && args[i+1] == "-" {
				p.fromStdin = true
			} else {
				p.script = strings.Join(args[i+1:], " ")
			}
			break loop
		case strings.HasPrefix("file", name):
			haveCommand = true
			file := ""
			if i+1 < len(args) {
				file = args[i+1]
			}
			p.argErr = "The argument '" + file + "' to the -File parameter does not exist. Provide the path to an existing '.ps1' file as an argument to the -File parameter."
			break loop
		case name == "ep" || name == "if" || name == "of" || name == "w" || name == "v" ||
			len(name) >= 2 && strings.HasPrefix("executionpolicy", name) ||
			len(name) >= 3 && (strings.HasPrefix("inputformat", name) || strings.HasPrefix("outputformat", name) ||
				strings.HasPrefix("windowstyle", name) || strings.HasPrefix("version", name) ||
				strings.HasPrefix("psconsolefile", name) || strings.HasPrefix("configurationname", name)):
			i++ // the switch's value
		default:
			// -NoProfile, -NonInteractive, -NoLogo, -Sta, -Mta and friends.
		}
	}
	if !haveCommand {
		p.fromStdin = true
	}
	return p
}

// bootstrapMarker is the first line of rmm's two bootstraps: the fixed
// -EncodedCommand that reads the script from stdin (stdin, up to its end:
// `$input | Out-String | Invoke-Expression`) or the resident loop from
// the first stdin line (loop).
var bootstrapMarker = regexp.MustCompile(`^#\s*rmm:bootstrap=(loop|stdin)\s+v(\d+)\s*\n`)

// newPowerShellProcess is powershell.exe with its arguments: the resident
// loop when -EncodedCommand carries the loop script or the loop's
// bootstrap, a script read from stdin behind the stdin bootstrap, else
// psProcess with its command.
func newPowerShellProcess(m *machine, rest string) process {
	p := newPowerShell(m, rest)
	if !p.encoded || p.argErr != "" {
		return p
	}
	if bm := bootstrapMarker.FindStringSubmatch(p.script); bm != nil {
		switch {
		case bm[1] == "loop" && (bm[2] == "2" || bm[2] == "3"):
			return newLoopBootstrap(m)
		case bm[1] == "stdin" && bm[2] == "1":
			p.fromStdin = true
			return p
		}
	}
	if mk := scriptMarker.FindStringSubmatch(p.script); mk != nil && mk[1] == loopName {
		if v, _ := strconv.Atoi(mk[2]); v >= loopVersionFirst && v <= loopVersionLast {
			return newLoop(m, v)
		}
	}
	return p
}

// decodeEncodedCommand undoes -EncodedCommand: base64 of UTF-16LE.
func decodeEncodedCommand(s string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", err
	}
	if len(raw)%2 != 0 {
		return "", base64.CorruptInputError(len(raw))
	}
	u := make([]uint16, len(raw)/2)
	for i := range u {
		u[i] = uint16(raw[2*i]) | uint16(raw[2*i+1])<<8
	}
	return string(utf16.Decode(u)), nil
}

// psOutput is where a script's results go: the command's streams when
// powershell.exe runs it, or the answer frame when the resident loop does.
// A script calls ErrorRecords once, then exactly one of Exit or Done.
type psOutput interface {
	// Stdout is output at an instant (objects formatted as text).
	Stdout(at time.Time, data []byte)
	// Host is Write-Host text.
	Host(at time.Time, text string)
	// Warning is Write-Warning text.
	Warning(at time.Time, text string)
	// Information is Write-Information text.
	Information(at time.Time, text string)
	// Suppressed notes an error the script did not show: written under
	// -ErrorAction SilentlyContinue or Ignore, or caught under
	// $ErrorActionPreference='Stop'. 5.1 still sets HadErrors for it.
	Suppressed()
	// ErrorRecords are the script's error records, each a list of lines
	// as PowerShell renders it (message first), possibly none.
	ErrorRecords(at time.Time, records [][]string)
	// Exit ends the script: it ran `exit code`.
	Exit(at time.Time, code int)
	// Done ends the script: it ran to its end without exit.
	Done(at time.Time)
}

// psStreams is powershell.exe's own output: stdout (with Write-Host text,
// which the console host writes there), and stderr as CLIXML
// (-EncodedCommand) or plain text, written when the script ends: the
// progress record, warnings and error records. Its exit code is the
// script's exit, else 1 when it wrote error records.
type psStreams struct {
	pio      *procIO
	p        *psProcess
	errs     [][]string
	warnings []string
}

func (s *psStreams) Stdout(at time.Time, data []byte) { s.pio.Stdout(at, data) }
func (s *psStreams) Host(at time.Time, text string)   { s.pio.Stdout(at, []byte(text+"\r\n")) }
func (s *psStreams) Warning(_ time.Time, text string) { s.warnings = append(s.warnings, text) }

// Information is dropped: $InformationPreference is SilentlyContinue.
func (s *psStreams) Information(time.Time, string) {}
func (s *psStreams) Suppressed()                   {}
func (s *psStreams) ErrorRecords(_ time.Time, records [][]string) {
	s.errs = append(s.errs, records...)
}
func (s *psStreams) Exit(at time.Time, code int) {
	s.pio.Stderr(at, s.p.stderrDoc(s.errs, s.warnings))
	s.pio.Exit(at, code)
}
func (s *psStreams) Done(at time.Time) {
	code := 0
	if len(s.errs) > 0 {
		code = 1
	}
	s.Exit(at, code)
}

// Start pays for starting powershell.exe, then runs the script unless it
// is to come on stdin.
func (p *psProcess) Start(pio *procIO) {
	p.ready = pio.Now().Add(p.m.fleet.cfg.PSStart)
	switch {
	case p.argErr != "":
		pio.Stderr(p.ready, []byte(p.argErr+"\r\n"))
		pio.Exit(p.ready, psArgErrorExitCode)
	case !p.fromStdin:
		p.run(&psStreams{pio: pio, p: p}, p.ready, p.script)
	}
}

// Stdin collects the script when it comes on stdin and runs it at end of
// input. (The resident loop, which answers line by line, is psLoop.)
func (p *psProcess) Stdin(pio *procIO, data []byte, eof bool) {
	if !p.fromStdin || pio.Exited() {
		return
	}
	p.input = append(p.input, data...)
	if eof {
		at := p.ready
		if pio.Now().After(at) {
			at = pio.Now()
		}
		p.run(&psStreams{pio: pio, p: p}, at, string(p.input))
	}
}

// run executes a script that starts at the given instant. On a host in
// Constrained Language mode, a script that uses what that mode refuses
// fails at the first such use.
func (p *psProcess) run(out psOutput, at time.Time, script string) {
	mk := scriptMarker.FindStringSubmatchIndex(script)
	if p.m.h.hp.clm {
		if v, bad := findCLMViolation(script); bad {
			if msg, guarded := clmGuard(script, v.offset); guarded && mk != nil && (strings.HasPrefix(script[mk[2]:mk[3]], "action_") || strings.HasPrefix(script[mk[2]:mk[3]], "patch_")) {
				// The script's own check comes first: it throws, its
				// catch reports the message as the answer.
				doc, _ := json.Marshal(failReply(msg))
				out.Stdout(at, append(doc, '\r', '\n'))
				out.ErrorRecords(at, nil)
				out.Done(at)
				return
			}
			out.ErrorRecords(at, [][]string{v.record(script)})
			out.Done(at)
			return
		}
	}
	if mk != nil {
		name := script[mk[2]:mk[3]]
		version, _ := strconv.Atoi(script[mk[4]:mk[5]])
		p.runMarked(out, at, script, name, version, mk[0]+strings.IndexByte(script[mk[0]:], '#'))
		return
	}
	p.evaluate(out, at, script)
}

// runMarked answers one of the engine's scripts as it would run on the
// host. at is when the script starts; pos is the marker's offset.
func (p *psProcess) runMarked(out psOutput, at time.Time, script, name string, version, pos int) {
	switch {
	case name == "metrics" && version >= 1 && version <= metricsVersion:
		watched, err := watchedList(script)
		if err != nil {
			var pe *parseError
			if errors.As(err, &pe) {
				out.ErrorRecords(at, [][]string{pe.record()})
			}
			out.Exit(at, 1)
			return
		}
		done := at.Add(p.m.fleet.cfg.ScriptTime)
		m := p.m.h.metricsAt(done.Sub(p.m.fleet.epoch), p.m.lastBoot)
		out.Stdout(done, append(p.m.h.metricsJSON(m, version, watched), '\r', '\n'))
		out.ErrorRecords(done, nil)
		out.Done(done)
	case strings.HasPrefix(name, "action_"):
		p.runAction(out, at, script, name, version, pos)
	case strings.HasPrefix(name, "inventory_"):
		p.runInventory(out, at, script, name, version, pos)
	case strings.HasPrefix(name, "patch_"):
		p.runPatch(out, at, script, name, version, pos)
	default:
		p.notFound(out, at, script, name, version, pos)
	}
}

// notFound answers a marked script this host does not know the way
// PowerShell answers a command it cannot find.
func (p *psProcess) notFound(out psOutput, at time.Time, script, name string, version, pos int) {
	line, col, src := position(script, pos)
	term := name
	if version > 0 {
		term = name + "-v" + strconv.Itoa(version)
	}
	err := commandNotFound(term, line, col, src)
	out.ErrorRecords(at, [][]string{err})
	out.Done(at)
}

// evaluate runs the statements a generic script or a pane line is likely
// to hold: output of literals and variables, hostname, whoami,
// Start-Sleep, Write-*, throw and exit, the state cmdlets (psstate.go),
// functions, and the pipelines and commands of pane.go, a property of a
// parenthesised pipeline ((Get-Service Spooler).Status), and
// $PSVersionTable.PSVersion and its parts. Anything else is an error
// record saying the simulated host does not implement it. The script
// takes Config.CommandTime (a marked script takes ScriptTime instead).
func (p *psProcess) evaluate(out psOutput, at time.Time, script string) {
	t, errs, exited, _, code := p.runStatements(out, at.Add(p.m.fleet.cfg.CommandTime), statements(script))
	out.ErrorRecords(t, errs)
	if exited {
		out.Exit(t, code)
		return
	}
	out.Done(t)
}

// psVersionProperty is $PSVersionTable.PSVersion, its parts and
// PSEdition as 5.1 prints them; ok is false for another property.
func (p *psProcess) psVersionProperty(expr string) (string, bool) {
	v := strings.SplitN(psVersion(p.m.h), ".", 4)
	switch strings.ToLower(strings.TrimSpace(expr)) {
	case "$psversiontable.psversion":
		// System.Version's view: left-aligned columns.
		return fmt.Sprintf("\r\nMajor  Minor  Build  Revision\r\n-----  -----  -----  --------\r\n%-6s %-6s %-6s %s\r\n\r\n\r\n",
			v[0], v[1], v[2], v[3]), true
	case "$psversiontable.psversion.tostring()":
		return strings.Join(v, ".") + "\r\n", true
	case "$psversiontable.psversion.major":
		return v[0] + "\r\n", true
	case "$psversiontable.psversion.minor":
		return v[1] + "\r\n", true
	case "$psversiontable.psversion.build":
		return v[2] + "\r\n", true
	case "$psversiontable.psversion.revision":
		return v[3] + "\r\n", true
	case "$psversiontable.psedition":
		return "Desktop\r\n", true
	}
	return "", false
}

// maxCallDepth bounds function calls inside function calls (PowerShell's
// own limit is far higher; a simulated script never needs more).
const maxCallDepth = 50

// runStatements runs statements from t on; it stops at exit or throw.
func (p *psProcess) runStatements(out psOutput, t time.Time, stmts []statement) (time.Time, [][]string, bool, bool, int) {
	var errs [][]string
	exited, thrown := false, false
	code := 0
	for _, st := range stmts {
		word, arg := firstWord(st.text)
		lw := strings.ToLower(word)
		segs := splitTop(st.text, '|')
		formatOnly := true
		for _, sg := range segs[1:] {
			formatOnly = formatOnly && formatPipeline(sg)
		}
		switch {
		case lw == "function" || lw == "filter":
			if e := p.define(arg, st); e != nil {
				errs = append(errs, e)
			}
		case isWURemoteCall(st.text):
			// The Windows Update Agent's downloader and installer refuse
			// a remote (network logon) caller.
			m, _ := wuRemoteCall(st.text)
			errs = append(errs, []string{
				accessDenied(m),
				"At line:" + strconv.Itoa(st.line) + " char:" + strconv.Itoa(st.col),
				"+ " + st.src,
				"+ " + strings.Repeat(" ", st.col-1) + strings.Repeat("~", len(st.text)),
				"    + CategoryInfo          : NotSpecified: (:) [], MethodInvocationException",
				"    + FullyQualifiedErrorId : UnauthorizedAccessException",
				" ",
			})
		case strings.HasPrefix(st.text, "$") && isAssignment(st.text):
			p.assignStatement(st, t, &errs)
		case isStateCmdlet(lw) && formatOnly:
			o, e := p.stateCmdlet(lw, arg, st)
			out.Stdout(t, []byte(o))
			if len(e) > 0 && errorActionQuiet(arg) {
				out.Suppressed() // written, not shown: HadErrors all the same
			} else {
				errs = append(errs, e...)
			}
		case strings.HasPrefix(strings.ToLower(strings.TrimSpace(st.text)), "$psversiontable.ps"):
			o, ok := p.psVersionProperty(st.text)
			if !ok {
				errs = append(errs, notImplemented(strings.TrimSpace(st.text), st))
				break
			}
			out.Stdout(t, []byte(o))
		case strings.HasPrefix(st.text, "(") && strings.Contains(st.text, ")."):
			o, e, ok := p.propertyOf(st, t)
			if !ok {
				errs = append(errs, notImplemented(st.text, st))
				break
			}
			out.Stdout(t, []byte(o))
			errs = append(errs, e...)
		case strings.HasPrefix(word, "$") && strings.HasSuffix(lw, ".count") && p.objVars[lw[1:len(lw)-6]] != nil:
			out.Stdout(t, []byte(strconv.Itoa(len(p.objVars[lw[1:len(lw)-6]].objs))+"\r\n"))
		default:
			if o, e, ok := p.pipeline(st, t); ok {
				out.Stdout(t, []byte(o))
				errs = append(errs, e...)
				break
			}
			t = p.simple(out, t, st, word, arg, lw, &errs, &exited, &thrown, &code)
		}
		if exited || thrown {
			break
		}
	}
	return t, errs, exited, thrown, code
}

// simple runs a statement that is one command: values, Write-*, the
// native commands, location, help, functions.
func (p *psProcess) simple(out psOutput, t time.Time, st statement, word, arg, lw string, errs *[][]string, exited, thrown *bool, code *int) time.Time {
	switch {
	case isValue(st.text):
		out.Stdout(t, []byte(p.value(st.text)+"\r\n"))
	case lw == "write-output" || lw == "echo" || lw == "write":
		out.Stdout(t, []byte(p.value(arg)+"\r\n"))
	case lw == "write-host":
		out.Host(t, p.value(arg))
	case lw == "write-warning":
		out.Warning(t, p.value(arg))
	case lw == "write-information":
		out.Information(t, p.value(arg))
	case lw == "hostname" || lw == "hostname.exe":
		out.Stdout(t, []byte(p.m.h.name+"\r\n"))
	case lw == "whoami" || lw == "whoami.exe":
		out.Stdout(t, []byte(strings.ToLower(p.m.h.name)+`\`+p.m.user+"\r\n"))
	case lw == "ipconfig" || lw == "ipconfig.exe":
		out.Stdout(t, []byte(ipconfig(p.m.h)))
	case lw == "get-date":
		out.Stdout(t, []byte("\r\n"+t.Format("Monday, January 2, 2006 3:04:05 PM")+"\r\n\r\n\r\n"))
	case lw == "start-sleep" || lw == "sleep":
		t = t.Add(sleepArg(arg))
	case lw == "set-location" || lw == "cd" || lw == "sl" || lw == "chdir":
		*errs = append(*errs, p.setLocation(arg, st)...)
	case lw == "cd.." || lw == "cd\\":
		*errs = append(*errs, p.setLocation(strings.TrimPrefix(lw, "cd"), st)...)
	case lw == "get-help" || lw == "help" || lw == "man":
		o, e := p.help(arg, st)
		out.Stdout(t, []byte(o))
		*errs = append(*errs, e...)
	case lw == "write-error":
		msg := p.value(arg)
		*errs = append(*errs, []string{
			st.text + " : " + msg,
			"    + CategoryInfo          : NotSpecified: (:) [Write-Error], WriteErrorException",
			"    + FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorException",
			" ",
		})
	case lw == "throw":
		msg := p.value(arg)
		if msg == "" {
			msg = "ScriptHalted"
		}
		*errs = append(*errs, []string{
			msg,
			"At line:" + strconv.Itoa(st.line) + " char:" + strconv.Itoa(st.col),
			"+ " + st.src,
			"+ " + strings.Repeat(" ", max(st.col-1, 0)) + strings.Repeat("~", len(st.text)),
			"    + CategoryInfo          : OperationStopped: (" + msg + ":String) [], RuntimeException",
			"    + FullyQualifiedErrorId : " + msg,
			" ",
		})
		*thrown = true
	case lw == "exit":
		*code, _ = strconv.Atoi(strings.TrimSpace(arg))
		*exited = true
	case p.funcs[lw] != "":
		if p.depth >= maxCallDepth {
			*errs = append(*errs, []string{"The script failed due to call depth overflow."})
			*thrown = true
			break
		}
		p.depth++
		var e [][]string
		t, e, *exited, *thrown, *code = p.runStatements(out, t, statements(p.funcs[lw]))
		p.depth--
		*errs = append(*errs, e...)
	default:
		*errs = append(*errs, notImplemented(word, st))
	}
	return t
}

// define stores `function NAME { BODY }` (filter too, as a function).
func (p *psProcess) define(arg string, st statement) []string {
	name, body, ok := strings.Cut(arg, "{")
	name = strings.TrimSpace(name)
	if !ok || name == "" || !strings.HasSuffix(strings.TrimSpace(body), "}") || strings.ContainsAny(name, " ($") {
		return []string{"the simulated host does not implement this function definition: " + st.text +
			" (it takes: function Name { statements })"}
	}
	body = strings.TrimSpace(body)
	if p.funcs == nil {
		p.funcs = make(map[string]string)
	}
	p.funcs[strings.ToLower(name)] = strings.TrimSpace(body[:len(body)-1])
	return nil
}

// assignStatement runs `$name = value`: a pipeline's objects are kept as
// objects, anything else as text.
func (p *psProcess) assignStatement(st statement, t time.Time, errs *[][]string) {
	i := strings.IndexByte(st.text, '=')
	name := strings.ToLower(strings.TrimSpace(st.text[1:i]))
	rhs := strings.TrimSpace(st.text[i+1:])
	w, _ := firstWord(splitTop(rhs, '|')[0])
	if objectCommand(w) || strings.HasPrefix(w, "$") && p.objVars[strings.ToLower(w[1:])] != nil || len(splitTop(rhs, '|')) > 1 {
		sub := st
		sub.text = rhs
		if r, e, ok := p.pipelineResult(sub, t); ok {
			*errs = append(*errs, e...)
			if p.objVars == nil {
				p.objVars = make(map[string]*psResult)
			}
			p.objVars[name] = &r
			delete(p.vars, name)
			return
		}
	}
	delete(p.objVars, name)
	p.assign(st.text)
}

// errorActionQuiet reports -ErrorAction SilentlyContinue or Ignore (or
// -EA) among a cmdlet's arguments.
func errorActionQuiet(arg string) bool {
	f := strings.Fields(strings.ToLower(arg))
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "-erroraction" || f[i] == "-ea" {
			switch strings.Trim(f[i+1], `'"`) {
			case "silentlycontinue", "ignore", "0", "4":
				return true
			}
		}
	}
	return false
}

// stderrDoc renders warnings and error records the way powershell.exe
// writes stderr: CLIXML (with the progress record first) for
// -EncodedCommand, plain text otherwise.
func (p *psProcess) stderrDoc(errs [][]string, warnings []string) []byte {
	var b strings.Builder
	if !p.encoded {
		for _, w := range warnings {
			b.WriteString("WARNING: " + w + "\r\n")
		}
		for _, e := range errs {
			for _, l := range e {
				b.WriteString(l)
				b.WriteString("\r\n")
			}
		}
		return []byte(b.String())
	}
	b.WriteString(clixmlHeader)
	b.WriteString(clixmlOpen)
	b.WriteString(clixmlProgress)
	for _, w := range warnings {
		b.WriteString(`<S S="warning">`)
		clixmlEscape(&b, w)
		b.WriteString(`_x000D__x000A_</S>`)
	}
	for _, e := range errs {
		for _, l := range e {
			b.WriteString(`<S S="Error">`)
			clixmlEscape(&b, l)
			b.WriteString(`_x000D__x000A_</S>`)
		}
	}
	b.WriteString(clixmlClose)
	return []byte(b.String())
}

// clixmlEscape writes s as CLIXML string content.
func clixmlEscape(b *strings.Builder, s string) {
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\r':
			b.WriteString("_x000D_")
		case '\n':
			b.WriteString("_x000A_")
		default:
			b.WriteRune(r)
		}
	}
}

// commandNotFound is PowerShell's CommandNotFoundException record.
func commandNotFound(term string, line, col int, src string) []string {
	return []string{
		term + " : The term '" + term + "' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.",
		"At line:" + strconv.Itoa(line) + " char:" + strconv.Itoa(col),
		"+ " + src,
		"+ " + strings.Repeat(" ", col-1) + strings.Repeat("~", max(1, len(term))),
		"    + CategoryInfo          : ObjectNotFound: (" + term + ":String) [], CommandNotFoundException",
		"    + FullyQualifiedErrorId : CommandNotFoundException",
		" ",
	}
}

// statement is one PowerShell statement and where it starts.
type statement struct {
	text      string
	line, col int    // 1-based, as PowerShell reports them
	src       string // the whole source line, for error records
}

// statements splits a script at newlines and semicolons outside quotes,
// braces and parentheses, dropping comments: a function body or a
// script block spans lines and holds semicolons.
func statements(script string) []statement {
	lines := strings.Split(strings.ReplaceAll(script, "\r\n", "\n"), "\n")
	var out []statement
	var cur strings.Builder
	startLine, startCol, startSrc := 0, 0, ""
	depth := 0
	inBlock := false
	var quote byte
	emit := func() {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text != "" {
			out = append(out, statement{text: text, line: startLine, col: startCol, src: startSrc})
		}
		startLine = 0
	}
	for li, src := range lines {
		for i := 0; i < len(src); i++ {
			c := src[i]
			if startLine == 0 && !inBlock && quote == 0 && c != ' ' && c != '\t' && c != ';' && c != '#' && !strings.HasPrefix(src[i:], "<#") {
				startLine, startCol, startSrc = li+1, i+1, src
			}
			switch {
			case inBlock:
				if strings.HasPrefix(src[i:], "#>") {
					inBlock = false
					i++
				}
				continue
			case quote == '\'':
				if q := singleQuoteLen(src, i); q > 0 {
					quote = 0 // a doubled quote closes and reopens: the same split
					cur.WriteString(src[i : i+q])
					i += q - 1
					continue
				}
			case quote != 0:
				if c == quote {
					quote = 0
				}
			case singleQuoteLen(src, i) > 0:
				quote = '\''
				q := singleQuoteLen(src, i)
				cur.WriteString(src[i : i+q])
				i += q - 1
				continue
			case c == '"':
				quote = c
			case strings.HasPrefix(src[i:], "<#"):
				inBlock = true
				i++
				continue
			case c == '#':
				i = len(src)
				continue
			case c == '{' || c == '(':
				depth++
			case c == '}' || c == ')':
				depth = max(depth-1, 0)
			case c == ';' && depth == 0:
				emit()
				continue
			}
			cur.WriteByte(c)
		}
		if depth == 0 && quote == 0 {
			emit()
		} else if cur.Len() > 0 {
			cur.WriteByte('\n')
		}
	}
	emit()
	return out
}

// position turns a byte offset into PowerShell's line, char and the line.
func position(script string, off int) (line, col int, src string) {
	before := script[:off]
	line = strings.Count(before, "\n") + 1
	startOfLine := strings.LastIndexByte(before, '\n') + 1
	end := strings.IndexByte(script[startOfLine:], '\n')
	if end < 0 {
		end = len(script) - startOfLine
	}
	return line, off - startOfLine + 1, strings.TrimRight(script[startOfLine:startOfLine+end], "\r")
}

// isAssignment reports `$x = ...` (but not `$x -eq ...` or `==`).
func isAssignment(s string) bool {
	i := strings.IndexByte(s, '=')
	return i > 0 && !strings.HasPrefix(s[i:], "==")
}

// isValue reports a statement that is just a value PowerShell would print.
func isValue(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '\'', '"', '$':
		return true
	}
	if singleQuoteLen(s, 0) > 0 {
		return true
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// value evaluates a literal, an environment variable or
// $PSVersionTable.PSVersion to its text.
func (p *psProcess) value(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if v, end, ok := scanSingleQuoted(s, 0); ok && end == len(s) {
		return v
	}
	switch {
	case len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"':
		return p.expand(s[1 : len(s)-1])
	case strings.HasPrefix(s, "$"):
		return p.variable(s)
	}
	return s
}

// expand substitutes $env:NAME inside a double-quoted string.
func (p *psProcess) expand(s string) string {
	return expandVars(s, p.variable)
}

func (p *psProcess) variable(s string) string {
	ls := strings.ToLower(s)
	switch {
	case strings.HasPrefix(ls, "$env:"):
		v, _ := getenv(p.m, s[5:])
		return v
	case strings.HasPrefix(ls, "$psversiontable.psversion"):
		return psVersion(p.m.h)
	case ls == "$true":
		return "True"
	case ls == "$false":
		return "False"
	}
	return p.vars[ls[1:]]
}

// psVersion is Windows PowerShell 5.1's full version on the host's build.
func psVersion(h *host) string {
	if h.hp.legacy {
		return "5.1.14409.1018" // WMF 5.1 on 2012 R2
	}
	build := strings.TrimPrefix(h.release.version, "10.0.")
	switch build {
	case "19045":
		build = "19041" // 22H2 ships the 2004 engine
	case "22631":
		build = "22621"
	}
	return "5.1." + build + "." + strconv.Itoa(h.ubr)
}

// sleepArg reads Start-Sleep's -Seconds / -Milliseconds (or a bare number
// of seconds).
func sleepArg(arg string) time.Duration {
	f := strings.Fields(arg)
	unit := time.Second
	for _, w := range f {
		lw := strings.ToLower(w)
		switch {
		case strings.HasPrefix(lw, "-m"):
			unit = time.Millisecond
		case strings.HasPrefix(lw, "-s"):
			unit = time.Second
		default:
			if v, err := strconv.ParseFloat(w, 64); err == nil {
				return time.Duration(v * float64(unit))
			}
		}
	}
	return 0
}
