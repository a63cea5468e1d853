package winrm

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// CLIXML is what powershell.exe writes on stderr when its host is not a
// console (as under WinRM): "#< CLIXML" and then serialised PowerShell
// objects. Streams are tagged with S="Error", S="Warning", S="Verbose",
// S="Debug", S="Information"; progress records arrive as
// <Obj S="progress">. Progress is noise, not an error.

// Streams is stderr decoded into PowerShell's streams.
type Streams struct {
	Errors      []string
	Warnings    []string
	Verbose     []string
	Information []string
	Progress    int // number of progress records skipped
}

const clixmlMarker = "#< CLIXML"

// DecodeStderr decodes powershell.exe stderr. CLIXML is decoded into its
// streams; anything else is taken as plain error text, one line each.
func DecodeStderr(stderr string) (Streams, error) {
	var s Streams
	rest := strings.TrimLeft(stderr, "\r\n ")
	if rest == "" {
		return s, nil
	}
	if !strings.HasPrefix(rest, clixmlMarker) {
		for _, line := range strings.Split(strings.TrimRight(rest, "\r\n"), "\n") {
			if l := strings.TrimRight(line, "\r"); strings.TrimSpace(l) != "" {
				s.Errors = append(s.Errors, l)
			}
		}
		return s, nil
	}
	// A long stderr may carry several "#< CLIXML" documents back to back.
	for _, doc := range strings.Split(rest, clixmlMarker) {
		doc = strings.TrimSpace(doc)
		if doc == "" {
			continue
		}
		if err := decodeCLIXMLDoc(doc, &s); err != nil {
			return s, err
		}
	}
	return s, nil
}

func decodeCLIXMLDoc(doc string, s *Streams) error {
	dec := xml.NewDecoder(strings.NewReader(doc))
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("clixml: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth != 2 { // children of <Objs>
				continue
			}
			stream := attr(t, "S")
			switch t.Name.Local {
			case "S":
				var text string
				if err := dec.DecodeElement(&text, &t); err != nil {
					return fmt.Errorf("clixml: %w", err)
				}
				depth--
				appendStream(s, stream, unescapeCLIXML(text))
			case "Obj":
				if strings.EqualFold(stream, "progress") {
					s.Progress++
				} else if stream != "" {
					// An error or information record as an object: take
					// its ToString (<ToString>) or first string member.
					var obj struct {
						ToString string   `xml:"ToString"`
						Strings  []string `xml:"MS>S"`
						Props    []string `xml:"Props>S"`
					}
					if err := dec.DecodeElement(&obj, &t); err != nil {
						return fmt.Errorf("clixml: %w", err)
					}
					depth--
					text := obj.ToString
					if text == "" && len(obj.Strings) > 0 {
						text = obj.Strings[0]
					}
					appendStream(s, stream, unescapeCLIXML(text))
					continue
				}
				if err := dec.Skip(); err != nil {
					return fmt.Errorf("clixml: %w", err)
				}
				depth--
			default:
				if err := dec.Skip(); err != nil {
					return fmt.Errorf("clixml: %w", err)
				}
				depth--
			}
		case xml.EndElement:
			depth--
		}
	}
}

func appendStream(s *Streams, stream, text string) {
	text = strings.TrimRight(text, "\r\n\t ")
	switch strings.ToLower(stream) {
	case "error":
		// PowerShell splits one error over several <S S="Error"> lines;
		// keep them as lines, callers join them.
		s.Errors = append(s.Errors, text)
	case "warning":
		s.Warnings = append(s.Warnings, text)
	case "verbose", "debug":
		s.Verbose = append(s.Verbose, text)
	case "information", "info":
		s.Information = append(s.Information, text)
	default:
		s.Information = append(s.Information, text)
	}
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

var clixmlEscRE = regexp.MustCompile(`_x([0-9A-Fa-f]{4})_`)

// unescapeCLIXML turns PowerShell's _xHHHH_ escapes (CR, LF, control
// characters, and a literal underscore as _x005F_) back into text.
func unescapeCLIXML(s string) string {
	return clixmlEscRE.ReplaceAllStringFunc(s, func(m string) string {
		n, err := strconv.ParseUint(m[2:6], 16, 16)
		if err != nil {
			return m
		}
		return string(rune(n))
	})
}

// ErrorText joins the error stream into one message, as PowerShell shows
// it on a console.
func (s Streams) ErrorText() string {
	return strings.TrimSpace(strings.Join(s.Errors, "\n"))
}
