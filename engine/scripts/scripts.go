// Package scripts holds the PowerShell the engine sends to Windows hosts,
// embedded in the binary, and the decoders of what they print (metrics.go,
// inventory.go). Every script targets Windows PowerShell 5.1, starts with
// a marker line "# rmm:script=<name> v<N>" and prints exactly one JSON
// document on stdout. The package only stores scripts and decodes their
// output; engine/winrm runs them (and holds its own resident loop,
// loop.ps1).
package scripts

import (
	"embed"
	"fmt"
	"regexp"
	"strconv"
)

//go:embed *.ps1
var files embed.FS

// markerRE matches the marker line every script starts with.
var markerRE = regexp.MustCompile(`^#\s*rmm:script=([A-Za-z0-9_.-]+)\s+v(\d+)\r?\n`)

// Script is one embedded script.
type Script struct {
	Name    string
	Version int
	Body    string
}

// Get returns the embedded script NAME (file NAME.ps1), checking that its
// marker line names it.
func Get(name string) (Script, error) {
	b, err := files.ReadFile(name + ".ps1")
	if err != nil {
		return Script{}, fmt.Errorf("script %s: not embedded: %w", name, err)
	}
	m := markerRE.FindSubmatch(b)
	if m == nil {
		return Script{}, fmt.Errorf("script %s: first line is not a marker line \"# rmm:script=%s vN\"", name, name)
	}
	if string(m[1]) != name {
		return Script{}, fmt.Errorf("script %s: marker names %q", name, m[1])
	}
	v, err := strconv.Atoi(string(m[2]))
	if err != nil {
		return Script{}, fmt.Errorf("script %s: marker version: %w", name, err)
	}
	return Script{Name: name, Version: v, Body: string(b)}, nil
}

// Names lists the embedded scripts.
func Names() []string {
	entries, _ := files.ReadDir(".")
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		n := e.Name()
		out = append(out, n[:len(n)-len(".ps1")])
	}
	return out
}
