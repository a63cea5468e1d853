package winrmsim

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// The cmdlets an interactive remote PowerShell pane types most: Get-Service,
// Start/Stop/Restart-Service, Get-Process and Stop-Process, run by the
// generic evaluator against the host's state (hoststate.go) and printed
// the way Windows PowerShell 5.1 prints their default tables.

// stateCmdlets maps names and aliases to the canonical cmdlet.
var stateCmdlets = map[string]string{
	"get-service": "Get-Service", "gsv": "Get-Service",
	"start-service": "Start-Service", "sasv": "Start-Service",
	"stop-service": "Stop-Service", "spsv": "Stop-Service",
	"restart-service": "Restart-Service",
	"get-process":     "Get-Process", "gps": "Get-Process", "ps": "Get-Process",
	"stop-process": "Stop-Process", "spps": "Stop-Process", "kill": "Stop-Process",
}

// isStateCmdlet reports whether the lower-cased word is one of them.
func isStateCmdlet(lw string) bool { _, ok := stateCmdlets[lw]; return ok }

// cmdletArgs is a parsed cmdlet argument list.
type cmdletArgs struct {
	names    []string // -Name or positional
	ids      []int    // -Id (Stop-Process positional too)
	passThru bool
	badID    string
}

// psTokens splits PowerShell arguments at blanks and commas outside
// quotes, removing the quotes.
func psTokens(s string) []string {
	var out []string
	var cur strings.Builder
	in := false
	var q byte
	flush := func() {
		if in {
			out = append(out, cur.String())
			cur.Reset()
			in = false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q == 0 && singleQuoteLen(s, i) > 0:
			v, end, _ := scanSingleQuoted(s, i) // an unterminated one runs to the end
			cur.WriteString(v)
			in = true
			i = end - 1
		case q != 0 && c == q:
			q = 0
		case q != 0:
			cur.WriteByte(c)
		case c == '"':
			q, in = c, true
		case c == ' ' || c == '\t' || c == ',':
			flush()
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	flush()
	return out
}

func parseCmdletArgs(cmdlet, arg string) cmdletArgs {
	var a cmdletArgs
	toks := psTokens(arg)
	target := "name"
	if cmdlet == "Stop-Process" {
		target = "id"
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		lt := strings.ToLower(t)
		switch {
		case lt == "-name" || lt == "-n" || lt == "-processname":
			target = "name"
			continue
		case lt == "-id":
			target = "id"
			continue
		case lt == "-force" || lt == "-nowait" || lt == "-confirm:$false" || lt == "-confirm":
			continue
		case lt == "-passthru":
			a.passThru = true
			continue
		case lt == "-erroraction" || lt == "-ea" || lt == "-displayname":
			i++
			continue
		case strings.HasPrefix(lt, "-"):
			continue
		}
		if target == "id" {
			n, err := strconv.Atoi(t)
			if err != nil {
				a.badID = t
				continue
			}
			a.ids = append(a.ids, n)
		} else {
			a.names = append(a.names, t)
		}
	}
	return a
}

// cmdletError is a non-terminating error record of a cmdlet.
func cmdletError(cmdlet, msg, category, target, exception, fqid string, st statement) []string {
	return []string{
		cmdlet + " : " + msg,
		"At line:" + strconv.Itoa(st.line) + " char:" + strconv.Itoa(st.col),
		"+ " + st.src,
		"+ " + strings.Repeat(" ", st.col-1) + strings.Repeat("~", len(st.text)),
		"    + CategoryInfo          : " + category + ": (" + target + ":String) [" + cmdlet + "], " + exception,
		"    + FullyQualifiedErrorId : " + fqid,
		" ",
	}
}

// formatPipeline is the tail of a statement after a pipe that only
// formats: the default table is what they show anyway.
func formatPipeline(seg string) bool {
	w := strings.ToLower(strings.Fields(seg + " x")[0])
	switch w {
	case "ft", "format-table", "out-string", "out-default", "out-host":
		return true
	}
	return false
}

// stateCmdlet runs one of the state cmdlets and returns its output and
// error records. A pipeline reaches it only when every stage after the
// cmdlet formats (runStatements); pane.go runs the others as objects.
func (p *psProcess) stateCmdlet(lw, arg string, st statement) (string, [][]string) {
	cmdlet := stateCmdlets[lw]
	if i := strings.IndexByte(arg, '|'); i >= 0 {
		for _, seg := range strings.Split(arg[i+1:], "|") {
			if !formatPipeline(strings.TrimSpace(seg)) {
				return "", [][]string{{"The simulated host's PowerShell runs " + cmdlet + " alone or piped to Format-Table or Out-String only."}}
			}
		}
		arg = arg[:i]
	}
	a := parseCmdletArgs(cmdlet, arg)
	h := p.m.h
	var errs [][]string
	switch cmdlet {
	case "Get-Service":
		shown, errs := p.getServices(a, st)
		return formatServiceTable(shown), errs
	case "Start-Service", "Stop-Service", "Restart-Service":
		op := strings.ToLower(strings.TrimSuffix(cmdlet, "-Service"))
		var done []ServiceInfo
		for _, n := range a.names {
			info, err := h.serviceOp(n, op)
			if err != nil {
				id := "CouldNotStartService"
				if op != "start" && strings.Contains(err.Error(), "stopped") {
					id = "CouldNotStopService"
				}
				cat, exc := "OpenError", "ServiceCommandException"
				if strings.HasPrefix(err.Error(), "Cannot find") {
					id, cat = "NoServiceFoundForGivenName", "ObjectNotFound"
				}
				errs = append(errs, cmdletError(cmdlet, err.Error(), cat, n, exc, id+",Microsoft.PowerShell.Commands."+strings.ReplaceAll(cmdlet, "-", "")+"Command", st))
				continue
			}
			done = append(done, info)
		}
		if len(a.names) == 0 {
			errs = append(errs, []string{cmdlet + " : Cannot process command because of one or more missing mandatory parameters: Name."})
		}
		if a.passThru {
			return formatServiceTable(done), errs
		}
		return "", errs
	case "Get-Process":
		shown, errs := p.getProcesses(a, st)
		return p.processTable(shown), errs
	case "Stop-Process":
		if a.badID != "" {
			errs = append(errs, []string{`Stop-Process : Cannot bind parameter 'Id'. Cannot convert value "` + a.badID + `" to type "System.Int32". Error: "Input string was not in a correct format."`})
		}
		fail := func(err error, target string) {
			id := "NoProcessFoundForGivenName"
			cat, exc := "ObjectNotFound", "ProcessCommandException"
			switch {
			case strings.Contains(err.Error(), "Access is denied"):
				id, cat, exc = "CouldNotStopProcess", "CloseError", "ProcessCommandException"
			case strings.Contains(err.Error(), "identifier"):
				id = "NoProcessFoundForGivenId"
			}
			errs = append(errs, cmdletError(cmdlet, err.Error(), cat, target, exc, id+",Microsoft.PowerShell.Commands.StopProcessCommand", st))
		}
		for _, n := range a.names {
			if _, err := h.stopProcesses(n, -1); err != nil {
				fail(err, n)
			}
		}
		for _, id := range a.ids {
			if _, err := h.stopProcesses("", id); err != nil {
				fail(err, strconv.Itoa(id))
			}
		}
		return "", errs
	}
	return "", nil
}

// getServices is what Get-Service returns for its arguments: every
// service, or those named (wildcards allowed), with an error record for
// each name without a match.
func (p *psProcess) getServices(a cmdletArgs, st statement) ([]ServiceInfo, [][]string) {
	const cmdlet = "Get-Service"
	all := p.m.h.services()
	var shown []ServiceInfo
	var errs [][]string
	if len(a.names) == 0 {
		shown = all
	}
	for _, n := range a.names {
		found := false
		wild := strings.ContainsAny(n, "*?[")
		pattern := strings.ToLower(n)
		for _, s := range all {
			match := !wild && strings.EqualFold(n, s.Name)
			if wild {
				match, _ = path.Match(pattern, strings.ToLower(s.Name))
			}
			if match {
				shown = append(shown, s)
				found = true
			}
		}
		if !found && !wild {
			errs = append(errs, cmdletError(cmdlet, "Cannot find any service with service name '"+n+"'.", "ObjectNotFound", n, "ServiceCommandException", "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.GetServiceCommand", st))
		}
	}
	return shown, errs
}

// getProcesses is what Get-Process returns for its arguments.
func (p *psProcess) getProcesses(a cmdletArgs, st statement) ([]procEntry, [][]string) {
	const cmdlet = "Get-Process"
	h := p.m.h
	h.hs().mu.Lock()
	procs := append([]procEntry(nil), h.processesLocked()...)
	h.hs().mu.Unlock()
	var shown []procEntry
	var errs [][]string
	if len(a.names) == 0 && len(a.ids) == 0 {
		shown = procs
	}
	for _, n := range a.names {
		found := false
		for _, pr := range procs {
			if ok, _ := path.Match(strings.ToLower(strings.TrimSuffix(n, ".exe")), strings.ToLower(pr.name)); ok {
				shown = append(shown, pr)
				found = true
			}
		}
		if !found && !strings.ContainsAny(n, "*?[") {
			errs = append(errs, cmdletError(cmdlet, `Cannot find a process with the name "`+n+`". Verify the process name and call the cmdlet again.`, "ObjectNotFound", n, "ProcessCommandException", "NoProcessFoundForGivenName,Microsoft.PowerShell.Commands.GetProcessCommand", st))
		}
	}
	for _, id := range a.ids {
		found := false
		for _, pr := range procs {
			if pr.pid == id {
				shown = append(shown, pr)
				found = true
			}
		}
		if !found {
			errs = append(errs, cmdletError(cmdlet, "Cannot find a process with the process identifier "+strconv.Itoa(id)+".", "ObjectNotFound", strconv.Itoa(id), "ProcessCommandException", "NoProcessFoundForGivenId,Microsoft.PowerShell.Commands.GetProcessCommand", st))
		}
	}
	return shown, errs
}

// formatServiceTable is Get-Service's default table.
func formatServiceTable(svcs []ServiceInfo) string {
	if len(svcs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\r\nStatus   Name               DisplayName\r\n------   ----               -----------\r\n")
	for _, s := range svcs {
		name := s.Name
		if len(name) > 18 {
			name = name[:15] + "..."
		}
		disp := s.DisplayName
		if len(disp) > 52 {
			disp = disp[:49] + "..."
		}
		fmt.Fprintf(&b, "%-8s %-18s %s\r\n", s.State, name, disp)
	}
	b.WriteString("\r\n\r\n")
	return b.String()
}

// processTable is Get-Process's default table, with counters derived from
// the host's seed and each pid.
func (p *psProcess) processTable(procs []procEntry) string {
	if len(procs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\r\nHandles  NPM(K)    PM(K)      WS(K)     CPU(s)     Id  SI ProcessName\r\n-------  ------    -----      -----     ------     --  -- -----------\r\n")
	for _, pr := range procs {
		r := splitmix(p.m.h.seed ^ uint64(pr.pid)*0x9e37)
		handles := 80 + int(r%1400)
		npm := 5 + int(r>>12%60)
		pm := 1200 + int(r>>20%90000)
		ws := pm + 4000 + int(r>>32%60000)
		cpu := fmt.Sprintf("%.2f", float64(r>>40%20000)/100)
		switch pr.name {
		case "Idle":
			handles, npm, pm, ws, cpu = 0, 0, 60, 8, ""
		case "System":
			handles, npm, pm, ws = 4300+int(r%900), 0, 200, 3400
		}
		fmt.Fprintf(&b, "%7d %7d %8d %10d %10s %6d %3d %s\r\n", handles, npm, pm, ws, cpu, pr.pid, pr.sess, pr.name)
	}
	b.WriteString("\r\n\r\n")
	return b.String()
}

// assign runs `$name = value` for a literal or a variable on the right.
func (p *psProcess) assign(stmt string) {
	i := strings.IndexByte(stmt, '=')
	name := strings.ToLower(strings.TrimSpace(stmt[1:i]))
	if name == "" || strings.ContainsAny(name, " .[:") {
		return // $x.y = ..., $env:X = ..., typed or indexed targets: not kept
	}
	if p.vars == nil {
		p.vars = make(map[string]string)
	}
	p.vars[name] = p.value(stmt[i+1:])
}

// expandVars substitutes $name and $env:NAME inside a double-quoted
// string, left to right; a `$` not followed by a name stays.
func expandVars(s string, lookup func(string) string) string {
	if strings.IndexByte(s, '$') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		j := i + 1
		if len(s) >= j+4 && strings.EqualFold(s[j:j+4], "env:") {
			j += 4
		}
		k := j
		for k < len(s) && (s[k] == '_' || s[k] >= 'a' && s[k] <= 'z' || s[k] >= 'A' && s[k] <= 'Z' || s[k] >= '0' && s[k] <= '9') {
			k++
		}
		if k == j {
			b.WriteByte('$')
			continue
		}
		b.WriteString(lookup(s[i:k]))
		i = k - 1
	}
	return b.String()
}
