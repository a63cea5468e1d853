package winrmsim

import (
	"regexp"
	"strconv"
	"strings"
)

// Constrained Language mode (AppLocker or WDAC enforced): Windows
// PowerShell 5.1 refuses to call methods of .NET types that are not
// "core types" (System.Management.Automation.CoreTypes), to create them
// with New-Object, and to compile any with Add-Type. The simulator plays
// a host in that mode (the clm profile) by looking for those constructs
// in a script before it answers it: the first one found fails the script
// with the error 5.1 writes. It is stricter than Windows in one way: a
// script that would catch that error and go on fails all the same.

// coreTypes are the 5.1 core types (by accelerator and by full name,
// lower-cased); enums are allowed too, but only their values are read
// (a method call needs a core type).
var coreTypes = func() map[string]bool {
	m := map[string]bool{}
	for _, pair := range [][2]string{
		{"array", "system.array"}, {"bool", "system.boolean"}, {"byte", "system.byte"}, {"char", "system.char"},
		{"datetime", "system.datetime"}, {"decimal", "system.decimal"}, {"double", "system.double"},
		{"float", "system.single"}, {"single", "system.single"}, {"guid", "system.guid"},
		{"hashtable", "system.collections.hashtable"}, {"int", "system.int32"}, {"int32", "system.int32"},
		{"int16", "system.int16"}, {"long", "system.int64"}, {"int64", "system.int64"},
		{"wmiclass", "system.management.managementclass"}, {"wmi", "system.management.managementobject"},
		{"wmisearcher", "system.management.managementobjectsearcher"},
		{"ciminstance", "microsoft.management.infrastructure.ciminstance"},
		{"psobject", "system.management.automation.psobject"}, {"pscustomobject", "system.management.automation.psobject"},
		{"psprimitivedictionary", "system.management.automation.psprimitivedictionary"},
		{"ref", "system.management.automation.psreference"}, {"regex", "system.text.regularexpressions.regex"},
		{"sbyte", "system.sbyte"}, {"string", "system.string"}, {"switch", "system.management.automation.switchparameter"},
		{"cultureinfo", "system.globalization.cultureinfo"}, {"ipaddress", "system.net.ipaddress"},
		{"mailaddress", "system.net.mail.mailaddress"}, {"bigint", "system.numerics.biginteger"},
		{"securestring", "system.security.securestring"}, {"timespan", "system.timespan"},
		{"uint16", "system.uint16"}, {"uint32", "system.uint32"}, {"uint64", "system.uint64"},
		{"uri", "system.uri"}, {"version", "system.version"}, {"void", "system.void"}, {"xml", "system.xml.xmldocument"},
		{"adsi", "system.directoryservices.directoryentry"}, {"adsisearcher", "system.directoryservices.directorysearcher"},
		{"pscredential", "system.management.automation.pscredential"},
		{"pslistmodifier", "system.management.automation.pslistmodifier"},
	} {
		m[pair[0]] = true
		m[pair[1]] = true
		m[strings.TrimPrefix(pair[1], "system.")] = true
	}
	return m
}()

// isCoreType reports whether a type literal's name (as written between
// the brackets) is a core type or an array of one.
func isCoreType(name string) bool {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.TrimSuffix(n, "[]")
	return coreTypes[n]
}

// clmViolation is the first construct Constrained Language mode refuses.
type clmViolation struct {
	offset  int
	message string
	fqid    string
}

var (
	// staticCallRE is [Type]::Member followed by a call, directly or
	// through a member of what it returns: [Console]::In.ReadLine().
	staticCallRE = regexp.MustCompile(`\[([A-Za-z_][A-Za-z0-9_.]*(?:\[\])?)\]::[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\s*\(`)
	newObjectRE  = regexp.MustCompile(`(?i)\bNew-Object\s+(?:-TypeName\s+)?['"]?([A-Za-z_][A-Za-z0-9_.\[\]` + "`" + `]*)`)
	addTypeRE    = regexp.MustCompile(`(?i)\bAdd-Type\b`)
	// comObjectRE is New-Object -ComObject: COM objects are refused too
	// (but for a few allowed classes none of rmm's scripts uses).
	comObjectRE = regexp.MustCompile(`(?i)\bNew-Object\s+-ComObject\b`)
)

// findCLMViolation returns the first construct of script that
// Constrained Language mode refuses, ignoring comments and single-quoted
// strings.
func findCLMViolation(script string) (clmViolation, bool) {
	code := maskPSNonCode(script)
	best := clmViolation{offset: -1}
	consider := func(off int, v clmViolation) {
		if best.offset < 0 || off < best.offset {
			v.offset = off
			best = v
		}
	}
	for _, m := range staticCallRE.FindAllStringSubmatchIndex(code, -1) {
		if !isCoreType(code[m[2]:m[3]]) {
			consider(m[0], clmViolation{message: "Cannot invoke method. Method invocation is supported only on core types in this language mode.",
				fqid: "MethodInvocationNotSupportedInConstrainedLanguage"})
			break
		}
	}
	for _, m := range newObjectRE.FindAllStringSubmatchIndex(code, -1) {
		if !isCoreType(code[m[2]:m[3]]) {
			consider(m[0], clmViolation{message: "Cannot create type. Only core types are supported in this language mode.",
				fqid: "CannotCreateTypeConstrainedLanguage,Microsoft.PowerShell.Commands.NewObjectCommand"})
			break
		}
	}
	if m := comObjectRE.FindStringIndex(code); m != nil {
		consider(m[0], clmViolation{message: "Cannot create type. Only core types are supported in this language mode.",
			fqid: "CannotCreateComTypeConstrainedLanguage,Microsoft.PowerShell.Commands.NewObjectCommand"})
	}
	if m := addTypeRE.FindStringIndex(code); m != nil {
		consider(m[0], clmViolation{message: "Cannot add type. Definition of new types is not supported in this language mode.",
			fqid: "CannotDefineNewType,Microsoft.PowerShell.Commands.AddTypeCommand"})
	}
	return best, best.offset >= 0
}

// record renders the violation as the error record 5.1 writes.
func (v clmViolation) record(script string) []string {
	line, col, src := position(script, v.offset)
	return []string{
		v.message,
		"At line:" + strconv.Itoa(line) + " char:" + strconv.Itoa(col),
		"+ " + src,
		"+ " + strings.Repeat(" ", col-1) + strings.Repeat("~", max(1, len(src)-col+1)),
		"    + CategoryInfo          : InvalidOperation: (:) [], RuntimeException",
		"    + FullyQualifiedErrorId : " + v.fqid,
		" ",
	}
}

// clmGuardRE is a script's own check of the language mode, before it uses
// anything Constrained Language mode refuses: it throws a message that
// says so (rmm's file transfer scripts).
var clmGuardRE = regexp.MustCompile(`if \(\$ExecutionContext\.SessionState\.LanguageMode -ne 'FullLanguage'\) \{ throw '((?:[^']|'')*)' \}`)

// clmGuard returns the message of the script's language-mode guard when
// it comes before offset.
func clmGuard(script string, before int) (string, bool) {
	m := clmGuardRE.FindStringSubmatchIndex(script)
	if m == nil || m[0] > before {
		return "", false
	}
	return strings.ReplaceAll(script[m[2]:m[3]], "''", "'"), true
}

// maskPSNonCode blanks comments and single-quoted strings (here-strings
// too), keeping offsets, so patterns match code only. Double-quoted
// strings are kept: their $(...) parts are code.
func maskPSNonCode(s string) string {
	b := []byte(s)
	blank := func(i, j int) {
		for k := i; k < j && k < len(b); k++ {
			if b[k] != '\n' && b[k] != '\r' {
				b[k] = ' '
			}
		}
	}
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '#':
			j := i
			for j < len(b) && b[j] != '\n' {
				j++
			}
			blank(i, j)
			i = j
		case b[i] == '<' && i+1 < len(b) && b[i+1] == '#':
			j := strings.Index(s[i+2:], "#>")
			end := len(b)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			blank(i, end)
			i = end - 1
		case b[i] == '@' && i+1 < len(b) && b[i+1] == '\'':
			j := strings.Index(s[i+2:], "\n'@")
			end := len(b)
			if j >= 0 {
				end = i + 2 + j + 3
			}
			blank(i, end)
			i = end - 1
		case b[i] == '\'':
			j := i + 1
			for j < len(b) {
				if b[j] == '\'' {
					if j+1 < len(b) && b[j+1] == '\'' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			blank(i+1, j)
			i = j
		case b[i] == '"':
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '`' {
					j++
				}
				j++
			}
			i = j
		}
	}
	return string(b)
}
