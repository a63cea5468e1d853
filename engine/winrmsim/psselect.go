package winrmsim

// The one-liners an admin types into an ad-hoc command or the remote
// PowerShell pane beyond a bare cmdlet: Get-Service / Get-Process piped
// to Select-Object (properties as a table, or -ExpandProperty), a
// property of a parenthesised cmdlet ((Get-Service Spooler).Status), and
// $PSVersionTable with its PSVersion. Output is what Windows PowerShell
// 5.1 prints through Out-String: a table of selected properties is sized
// to its values (5.1 sizes tables from the objects it has), enums and
// numbers right-aligned, text left-aligned.
//
// What the simulated host does not implement it says so in an error
// record naming the command, rather than pretending a real cmdlet does
// not exist.

import (
	"strconv"
	"strings"
)

// psValue is one property value and how a table aligns it.
type psValue struct {
	text  string
	right bool // enums and numbers
}

// psObject is one object's properties by canonical name.
type psObject struct {
	props map[string]psValue
}

// serviceProps are a ServiceController's properties the simulator knows,
// canonical names in the order Select-Object * would list the common ones.
var serviceProps = []string{"Name", "DisplayName", "Status", "StartType", "ServiceName", "MachineName", "ServiceType", "CanStop"}

func serviceObject(s ServiceInfo) psObject {
	canStop := "False"
	if s.State == svcRunning {
		canStop = "True"
	}
	return psObject{props: map[string]psValue{
		"Name": {text: s.Name}, "DisplayName": {text: s.DisplayName}, "Status": {text: s.State, right: true},
		"StartType": {text: s.StartType, right: true}, "ServiceName": {text: s.Name}, "MachineName": {text: "."},
		"ServiceType": {text: "Win32OwnProcess", right: true}, "CanStop": {text: canStop},
	}}
}

var processProps = []string{"Name", "ProcessName", "Id", "SI", "SessionId"}

func processObject(p procEntry) psObject {
	id, si := strconv.Itoa(p.pid), strconv.Itoa(p.sess)
	return psObject{props: map[string]psValue{
		"Name": {text: p.name}, "ProcessName": {text: p.name}, "Id": {text: id, right: true},
		"SI": {text: si, right: true}, "SessionId": {text: si, right: true},
	}}
}

// canonicalProp returns a known property's canonical name; ok is false
// for one the object does not have.
func canonicalProp(known []string, name string) (string, bool) {
	for _, k := range known {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return name, false
}

// selectSpec is a parsed Select-Object segment.
type selectSpec struct {
	props  []string
	expand string
	first  int // 0: all
	err    string
}

// isSelect reports whether a pipeline segment is Select-Object.
func isSelect(seg string) bool {
	w := strings.ToLower(strings.Fields(seg + " x")[0])
	return w == "select" || w == "select-object"
}

func parseSelect(seg string) selectSpec {
	var s selectSpec
	toks := psTokens(strings.TrimSpace(seg)[len(strings.Fields(seg)[0]):])
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		lt := strings.ToLower(t)
		switch {
		case lt == "-property" || lt == "-prop" || lt == "-p":
			continue
		case strings.HasPrefix("-expandproperty", lt) && len(lt) >= 2 && strings.HasPrefix(lt, "-e"):
			if i+1 < len(toks) {
				s.expand = toks[i+1]
				i++
			} else {
				s.err = "Select-Object : Missing an argument for parameter 'ExpandProperty'. Specify a parameter of type 'System.String' and try again."
			}
		case lt == "-first" || lt == "-last":
			if i+1 < len(toks) {
				n, err := strconv.Atoi(toks[i+1])
				if err != nil || n < 0 {
					s.err = `Select-Object : Cannot bind parameter 'First'. Cannot convert value "` + toks[i+1] + `" to type "System.Int32".`
				}
				if lt == "-first" {
					s.first = n
				} else {
					s.err = "The simulated host does not implement Select-Object -Last."
				}
				i++
			}
		case strings.HasPrefix(lt, "-"):
			s.err = "The simulated host does not implement Select-Object " + t + "."
		case t == "*":
			s.err = "The simulated host does not implement Select-Object *."
		default:
			s.props = append(s.props, t)
		}
	}
	return s
}

// selectOutput is what objects piped to Select-Object print.
func selectOutput(objs []psObject, known []string, s selectSpec) (string, []string) {
	if s.first > 0 && len(objs) > s.first {
		objs = objs[:s.first]
	}
	if s.expand != "" {
		name, ok := canonicalProp(known, s.expand)
		if !ok {
			return "", []string{"Select-Object : Property \"" + s.expand + "\" cannot be found."}
		}
		var b strings.Builder
		for _, o := range objs {
			b.WriteString(o.props[name].text)
			b.WriteString("\r\n")
		}
		return b.String(), nil
	}
	if len(s.props) == 0 {
		return "", []string{"The simulated host does not implement Select-Object without -Property or -ExpandProperty."}
	}
	cols := make([]string, len(s.props))
	for i, p := range s.props {
		cols[i], _ = canonicalProp(known, p) // an unknown property is a column of nulls, as in PowerShell
	}
	if len(cols) > 4 {
		return formatList(objs, cols), nil
	}
	return formatTable(objs, cols), nil
}

// formatTable is Out-String's table of the columns: each as wide as its
// widest value or header, one space between columns, a blank line before
// and two after.
func formatTable(objs []psObject, cols []string) string {
	if len(objs) == 0 {
		return ""
	}
	width := make([]int, len(cols))
	right := make([]bool, len(cols))
	for i, c := range cols {
		width[i] = len(c)
		for _, o := range objs {
			v := o.props[c]
			width[i] = max(width[i], len(v.text))
			right[i] = right[i] || v.right
		}
	}
	cell := func(i int, s string) string {
		pad := strings.Repeat(" ", width[i]-len(s))
		if right[i] {
			return pad + s
		}
		if i == len(cols)-1 {
			return s
		}
		return s + pad
	}
	line := func(cells func(i int) string) string {
		parts := make([]string, len(cols))
		for i := range cols {
			parts[i] = cell(i, cells(i))
		}
		return strings.Join(parts, " ") + "\r\n"
	}
	var b strings.Builder
	b.WriteString("\r\n")
	b.WriteString(line(func(i int) string { return cols[i] }))
	b.WriteString(line(func(i int) string { return strings.Repeat("-", len(cols[i])) }))
	for _, o := range objs {
		b.WriteString(line(func(i int) string { return o.props[cols[i]].text }))
	}
	b.WriteString("\r\n\r\n")
	return b.String()
}

// formatList is Out-String's list of the columns (5 or more properties).
func formatList(objs []psObject, cols []string) string {
	w := 0
	for _, c := range cols {
		w = max(w, len(c))
	}
	var b strings.Builder
	b.WriteString("\r\n")
	for _, o := range objs {
		for _, c := range cols {
			b.WriteString(c + strings.Repeat(" ", w-len(c)) + " : " + o.props[c].text + "\r\n")
		}
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// propertyOf runs `(CMDLET ARGS).Property`: the property of each object
// the cmdlet returns, one per line.
func (p *psProcess) propertyOf(st statement) (out string, errs [][]string, ok bool) {
	s := st.text
	if !strings.HasPrefix(s, "(") {
		return "", nil, false
	}
	end := strings.LastIndex(s, ").")
	if end < 0 {
		return "", nil, false
	}
	inner, prop := strings.TrimSpace(s[1:end]), strings.TrimSpace(s[end+2:])
	word, arg := firstWord(inner)
	lw := strings.ToLower(word)
	if !isStateCmdlet(lw) || strings.ContainsAny(prop, " ()|") || prop == "" {
		return "", nil, false
	}
	objs, known, errs := p.stateObjects(lw, arg, st)
	if objs == nil && errs == nil {
		return "", nil, false
	}
	name, found := canonicalProp(known, prop)
	var b strings.Builder
	for _, o := range objs {
		if found {
			b.WriteString(o.props[name].text)
			b.WriteString("\r\n")
		}
	}
	return b.String(), errs, true
}

// stateObjects are the objects Get-Service or Get-Process returns for arg,
// with the properties the simulator knows of them; nil for the other
// cmdlets.
func (p *psProcess) stateObjects(lw, arg string, st statement) ([]psObject, []string, [][]string) {
	cmdlet := stateCmdlets[lw]
	a := parseCmdletArgs(cmdlet, arg)
	switch cmdlet {
	case "Get-Service":
		svcs, errs := p.getServices(a, st)
		objs := make([]psObject, len(svcs))
		for i, s := range svcs {
			objs[i] = serviceObject(s)
		}
		return objs, serviceProps, errs
	case "Get-Process":
		procs, errs := p.getProcesses(a, st)
		objs := make([]psObject, len(procs))
		for i, pr := range procs {
			objs[i] = processObject(pr)
		}
		return objs, processProps, errs
	}
	return nil, nil, nil
}

// psVersionTable answers $PSVersionTable and its PSVersion as 5.1 prints
// them; ok is false for other variables.
func (p *psProcess) psVersionTable(expr string) (string, [][]string, bool) {
	l := strings.ToLower(strings.TrimSpace(expr))
	if !strings.HasPrefix(l, "$psversiontable") {
		return "", nil, false
	}
	v := psVersion(p.m.h)
	parts := strings.Split(v, ".")
	switch l {
	case "$psversiontable":
		build := "10.0." + parts[2] + "." + parts[3]
		rows := [][2]string{
			{"PSVersion", v}, {"PSEdition", "Desktop"}, {"PSCompatibleVersions", "{1.0, 2.0, 3.0, 4.0...}"},
			{"BuildVersion", build}, {"CLRVersion", "4.0.30319.42000"}, {"WSManStackVersion", "3.0"},
			{"PSRemotingProtocolVersion", "2.3"}, {"SerializationVersion", "1.1.0.1"},
		}
		var b strings.Builder
		b.WriteString("\r\nName                           Value\r\n----                           -----\r\n")
		for _, r := range rows {
			b.WriteString(r[0] + strings.Repeat(" ", 31-len(r[0])) + r[1] + "\r\n")
		}
		b.WriteString("\r\n\r\n")
		return b.String(), nil, true
	case "$psversiontable.psversion":
		return "\r\nMajor  Minor  Build  Revision\r\n-----  -----  -----  --------\r\n" +
			pad(parts[0], 7) + pad(parts[1], 7) + pad(parts[2], 7) + parts[3] + "\r\n\r\n\r\n", nil, true
	case "$psversiontable.psversion.tostring()":
		return v + "\r\n", nil, true
	case "$psversiontable.psversion.major":
		return parts[0] + "\r\n", nil, true
	case "$psversiontable.psversion.minor":
		return parts[1] + "\r\n", nil, true
	case "$psversiontable.psversion.build":
		return parts[2] + "\r\n", nil, true
	case "$psversiontable.psedition":
		return "Desktop\r\n", nil, true
	}
	return "", [][]string{{"The simulated host does not implement " + strings.TrimSpace(expr) + "."}}, true
}

func pad(s string, w int) string {
	if len(s) >= w {
		return s
	}
	return s + strings.Repeat(" ", w-len(s))
}

// unimplemented are Windows commands an admin commonly types that the
// simulated host does not run: it says so, instead of claiming they do
// not exist ("is not recognized") as it does for names Windows would not
// know either.
var unimplemented = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range strings.Fields(`
get-ciminstance get-wmiobject get-itemproperty get-childitem gci dir ls get-item test-path get-hotfix get-computerinfo
get-eventlog get-winevent get-netipaddress get-netadapter get-netipconfiguration get-disk get-volume get-psdrive
get-localuser get-localgroupmember get-scheduledtask get-content gc cat type set-content add-content out-file
test-netconnection test-connection resolve-dnsname get-bitlockervolume get-mpcomputerstatus get-tpm get-windowsfeature
get-package get-appxpackage invoke-webrequest iwr invoke-restmethod irm invoke-command icm set-service get-executionpolicy
get-timezone get-culture select-string sls where-object where ? foreach-object foreach % sort-object sort measure-object
measure group-object format-list fl format-wide fw get-member gm get-command gcm get-module import-module new-item ni
remove-item rm del copy-item cp copy move-item mv restart-computer stop-computer get-acl get-smbshare get-netfirewallprofile
get-netfirewallrule get-nettcpconnection get-dnsclientserveraddress clear-dnsclientcache get-printer get-physicaldisk
get-counter get-date-nothing convertto-json convertfrom-json convertto-csv export-csv import-csv get-itempropertyvalue
set-itemproperty new-itemproperty get-location gl pwd set-location cd sl get-wuhistory get-windowsupdatelog
ipconfig ipconfig.exe systeminfo systeminfo.exe netstat netstat.exe gpresult gpresult.exe quser quser.exe wmic wmic.exe
sc sc.exe net net.exe reg reg.exe ping ping.exe nslookup nslookup.exe tasklist tasklist.exe driverquery manage-bde
manage-bde.exe w32tm w32tm.exe gpupdate gpupdate.exe shutdown shutdown.exe winget winget.exe`) {
		m[n] = true
	}
	delete(m, "get-date-nothing")
	return m
}()

// notImplemented is the error record for a command the simulated host
// does not run.
func notImplemented(word string, st statement) []string {
	return []string{
		"The simulated host does not implement " + word + " (rmm's Windows simulator runs a small set of commands; see engine/winrmsim).",
		"At line:" + strconv.Itoa(st.line) + " char:" + strconv.Itoa(st.col),
		"+ " + st.src,
		"    + CategoryInfo          : NotImplemented: (" + word + ":String) [], NotImplementedException",
		"    + FullyQualifiedErrorId : SimulatorNotImplemented",
		" ",
	}
}
