package winrmsim

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// scanRequest parses a WS-Management envelope in one pass over its bytes,
// filling the fields of request that the simulator reads. It resolves
// namespace prefixes (so any prefixes a client picks work), checks that
// tags nest, decodes entities and CDATA, and refuses DTDs. It exists
// because encoding/xml's tokenizer costs tens of microseconds per envelope,
// which at 10,000 hosts is most of the simulator's CPU; the xml tags on
// request describe the same schema, and a test holds the two parsers to
// the same answers.
func scanRequest(body []byte) (*request, error) {
	return new(scanner).scan(body)
}

// scan resets the scanner (keeping its text buffer) and parses body. The
// request it returns refers to nothing of body or of the scanner, so
// both can be reused.
func (s *scanner) scan(body []byte) (*request, error) {
	*s = scanner{b: body, text: s.text[:0]}
	s.ns = s.nsBuf[:0]
	s.stack = s.stackBuf[:0]
	if err := s.run(); err != nil {
		return nil, fmt.Errorf("parse envelope: %w", err)
	}
	req := new(request)
	*req = s.req
	return req, nil
}

// nsBinding is an xmlns declaration in scope. Names are slices of the
// document (or of a decoded copy), so scanning allocates little.
type nsBinding struct {
	prefix, uri []byte
	depth       int
}

// openElem is an element whose end tag has not been seen yet.
type openElem struct {
	raw   []byte // the qualified name as written, to match the end tag
	uri   []byte
	local []byte
}

type scanner struct {
	b     []byte
	i     int
	ns    []nsBinding
	stack []openElem
	req   request

	nsBuf    [8]nsBinding
	stackBuf [8]openElem
	attrBuf  [8]attr
	attrs    []attr // of the start tag being handled

	// capture receives the text of the element at captureDepth.
	capture      *string
	captureDepth int
	text         []byte
}

var errUnexpectedEOF = errors.New("unexpected end of document")

func (s *scanner) run() error {
	rootSeen := false
	for s.i < len(s.b) {
		lt := bytes.IndexByte(s.b[s.i:], '<')
		if lt < 0 {
			lt = len(s.b) - s.i
		}
		if err := s.chardata(s.b[s.i : s.i+lt]); err != nil {
			return err
		}
		s.i += lt
		if s.i >= len(s.b) {
			break
		}
		rest := s.b[s.i:]
		switch {
		case bytes.HasPrefix(rest, []byte("<?")):
			if err := s.skipPast("?>"); err != nil {
				return err
			}
		case bytes.HasPrefix(rest, []byte("<!--")):
			if err := s.skipPast("-->"); err != nil {
				return err
			}
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			end := bytes.Index(rest, []byte("]]>"))
			if end < 0 {
				return errUnexpectedEOF
			}
			if len(s.stack) == 0 {
				return errors.New("character data outside the root element")
			}
			if s.capture != nil && len(s.stack) == s.captureDepth {
				s.text = append(s.text, rest[9:end]...)
			}
			s.i += end + 3
		case bytes.HasPrefix(rest, []byte("<!")):
			return errors.New("DTDs are not allowed")
		case bytes.HasPrefix(rest, []byte("</")):
			if err := s.endTag(); err != nil {
				return err
			}
			if len(s.stack) == 0 {
				// The root closed: only whitespace, comments and
				// processing instructions may follow.
				return s.trailer()
			}
		default:
			if rootSeen && len(s.stack) == 0 {
				return errors.New("more than one root element")
			}
			rootSeen = true
			if err := s.startTag(); err != nil {
				return err
			}
		}
	}
	if !rootSeen {
		return errors.New("no root element")
	}
	if len(s.stack) > 0 {
		return errUnexpectedEOF
	}
	return nil
}

// trailer checks what follows the root element.
func (s *scanner) trailer() error {
	for s.i < len(s.b) {
		rest := s.b[s.i:]
		switch {
		case isSpace(rest[0]):
			s.i++
		case bytes.HasPrefix(rest, []byte("<?")):
			if err := s.skipPast("?>"); err != nil {
				return err
			}
		case bytes.HasPrefix(rest, []byte("<!--")):
			if err := s.skipPast("-->"); err != nil {
				return err
			}
		default:
			return errors.New("content after the root element")
		}
	}
	return nil
}

func (s *scanner) skipPast(end string) error {
	j := bytes.Index(s.b[s.i:], []byte(end))
	if j < 0 {
		return errUnexpectedEOF
	}
	s.i += j + len(end)
	return nil
}

// chardata handles text between tags.
func (s *scanner) chardata(t []byte) error {
	if len(t) == 0 {
		return nil
	}
	if len(s.stack) == 0 {
		for _, c := range t {
			if !isSpace(c) {
				return errors.New("character data outside the root element")
			}
		}
		return nil
	}
	if s.capture == nil || len(s.stack) != s.captureDepth {
		if bytes.IndexByte(t, '&') >= 0 {
			// Still check entities, as a strict parser would.
			if _, err := unescape(nil, t); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	s.text, err = unescape(s.text, t)
	return err
}

// startTag reads `<name attr="v" ...>` or `<name .../>`.
func (s *scanner) startTag() error {
	s.i++ // '<'
	name, err := s.name()
	if err != nil {
		return err
	}
	depth := len(s.stack) + 1
	attrs := s.attrBuf[:0]
	selfClosing := false
	for {
		s.spaces()
		if s.i >= len(s.b) {
			return errUnexpectedEOF
		}
		if s.b[s.i] == '>' {
			s.i++
			break
		}
		if s.b[s.i] == '/' {
			if s.i+1 >= len(s.b) || s.b[s.i+1] != '>' {
				return errors.New("malformed empty-element tag")
			}
			s.i += 2
			selfClosing = true
			break
		}
		an, err := s.name()
		if err != nil {
			return err
		}
		s.spaces()
		if s.i >= len(s.b) || s.b[s.i] != '=' {
			return fmt.Errorf("attribute %s has no value", an)
		}
		s.i++
		s.spaces()
		if s.i >= len(s.b) || (s.b[s.i] != '"' && s.b[s.i] != '\'') {
			return fmt.Errorf("attribute %s value is not quoted", an)
		}
		q := s.b[s.i]
		end := bytes.IndexByte(s.b[s.i+1:], q)
		if end < 0 {
			return errUnexpectedEOF
		}
		raw := s.b[s.i+1 : s.i+1+end]
		s.i += end + 2
		v := raw
		if bytes.IndexByte(raw, '&') >= 0 {
			if v, err = unescape(nil, raw); err != nil {
				return err
			}
		}
		switch {
		case string(an) == "xmlns":
			s.ns = append(s.ns, nsBinding{prefix: nil, uri: v, depth: depth})
		case bytes.HasPrefix(an, []byte("xmlns:")):
			s.ns = append(s.ns, nsBinding{prefix: an[6:], uri: v, depth: depth})
		default:
			attrs = append(attrs, attr{an, v})
		}
	}

	prefix, local := splitQName(name)
	uri, ok := s.resolve(prefix)
	if !ok {
		return fmt.Errorf("undeclared namespace prefix %q", prefix)
	}
	s.stack = append(s.stack, openElem{raw: name, uri: uri, local: local})
	s.attrs = attrs
	s.element(depth, uri, local)
	if selfClosing {
		s.closeTop()
	}
	return nil
}

// attr is one attribute of the current start tag.
type attr struct{ name, value []byte }

// attr returns the named (unprefixed) attribute of the current start tag.
func (s *scanner) attr(name string) string {
	for _, a := range s.attrs {
		if string(a.name) == name {
			return string(a.value)
		}
	}
	return ""
}

// element fills the request from a start tag, by where it sits in the
// envelope.
func (s *scanner) element(depth int, uri, local []byte) {
	r := &s.req
	attr := s.attr
	parent := func(n int) openElem { return s.stack[len(s.stack)-1-n] }
	switch depth {
	case 1:
		r.XMLName.Space, r.XMLName.Local = string(uri), string(local)
	case 3:
		if p := parent(1); string(p.uri) != nsSOAP {
			return
		}
		inHeader := string(parent(1).local) == "Header"
		inBody := string(parent(1).local) == "Body"
		switch {
		case inHeader && string(uri) == nsAddressing && string(local) == "Action":
			s.captureInto(&r.Header.Action, depth)
		case inHeader && string(uri) == nsAddressing && string(local) == "MessageID":
			s.captureInto(&r.Header.MessageID, depth)
		case inHeader && string(uri) == nsWSMan && string(local) == "ResourceURI":
			s.captureInto(&r.Header.ResourceURI, depth)
		case inHeader && string(uri) == nsWSMan && string(local) == "OperationTimeout":
			s.captureInto(&r.Header.OperationTimeout, depth)
		case inHeader && string(uri) == nsWSMan && string(local) == "MaxEnvelopeSize":
			s.captureInto(&r.Header.MaxEnvelopeSize, depth)
		case inBody && string(uri) == nsIdentity && string(local) == "Identify":
			r.Body.Identify = &struct{}{}
		case inBody && string(uri) == nsShell && string(local) == "Shell":
			r.Body.Shell = &struct{}{}
		case inBody && string(uri) == nsShell && string(local) == "CommandLine":
			r.Body.CommandLine = &commandLine{}
		case inBody && string(uri) == nsShell && string(local) == "Send":
			r.Body.Send = &sendBody{}
		case inBody && string(uri) == nsShell && string(local) == "Receive":
			r.Body.Receive = &receiveBody{}
		case inBody && string(uri) == nsShell && string(local) == "Signal":
			r.Body.Signal = &signalBody{CommandID: attr("CommandId")}
		case inBody && string(uri) == nsEnum && string(local) == "Enumerate":
			r.Body.Enumerate = &enumerateBody{}
		case inBody && string(uri) == nsEnum && string(local) == "Pull":
			r.Body.Pull = &pullBody{}
		}
	case 4:
		p := parent(1)
		if string(parent(2).uri) != nsSOAP {
			return
		}
		puri, plocal := p.uri, p.local
		switch {
		case string(puri) == nsWSMan && string(plocal) == "SelectorSet" && string(uri) == nsWSMan && string(local) == "Selector":
			r.Header.Selectors = append(r.Header.Selectors, nameText{Name: attr("Name")})
			s.captureInto(&r.Header.Selectors[len(r.Header.Selectors)-1].Value, depth)
		case string(puri) == nsWSMan && string(plocal) == "OptionSet" && string(uri) == nsWSMan && string(local) == "Option":
			r.Header.Options = append(r.Header.Options, nameText{Name: attr("Name")})
			s.captureInto(&r.Header.Options[len(r.Header.Options)-1].Value, depth)
		case string(puri) == nsEnum && string(plocal) == "Enumerate" && r.Body.Enumerate != nil:
			switch {
			case string(uri) == nsWSMan && string(local) == "OptimizeEnumeration":
				r.Body.Enumerate.Optimize = &struct{}{}
			case string(uri) == nsWSMan && string(local) == "MaxElements":
				s.captureInto(&r.Body.Enumerate.MaxElements, depth)
			case string(uri) == nsWSMan && string(local) == "Filter":
				r.Body.Enumerate.Filter = &struct{}{}
			case string(uri) == nsEnum && string(local) == "Filter":
				r.Body.Enumerate.EnumFilter = &struct{}{}
			}
		case string(puri) == nsEnum && string(plocal) == "Pull" && r.Body.Pull != nil && string(uri) == nsEnum:
			switch string(local) {
			case "EnumerationContext":
				s.captureInto(&r.Body.Pull.EnumerationContext, depth)
			case "MaxElements":
				s.captureInto(&r.Body.Pull.MaxElements, depth)
			}
		case string(puri) != nsShell || string(uri) != nsShell:
		case string(plocal) == "CommandLine" && string(local) == "Command" && r.Body.CommandLine != nil:
			s.captureInto(&r.Body.CommandLine.Command, depth)
		case string(plocal) == "CommandLine" && string(local) == "Arguments" && r.Body.CommandLine != nil:
			r.Body.CommandLine.Arguments = append(r.Body.CommandLine.Arguments, "")
			s.captureInto(&r.Body.CommandLine.Arguments[len(r.Body.CommandLine.Arguments)-1], depth)
		case string(plocal) == "Send" && string(local) == "Stream" && r.Body.Send != nil:
			r.Body.Send.Streams = append(r.Body.Send.Streams, stream{Name: attr("Name"), CommandID: attr("CommandId"), End: attr("End")})
			s.captureInto(&r.Body.Send.Streams[len(r.Body.Send.Streams)-1].Value, depth)
		case string(plocal) == "Receive" && string(local) == "DesiredStream" && r.Body.Receive != nil:
			r.Body.Receive.DesiredStream = stream{Name: attr("Name"), CommandID: attr("CommandId"), End: attr("End")}
			s.captureInto(&r.Body.Receive.DesiredStream.Value, depth)
		case string(plocal) == "Signal" && string(local) == "Code" && r.Body.Signal != nil:
			s.captureInto(&r.Body.Signal.Code, depth)
		}
	}
}

// captureInto collects the text of the element at depth into dst. The
// pointer stays valid: nothing appends to dst's slice until the element
// ends.
func (s *scanner) captureInto(dst *string, depth int) {
	s.capture, s.captureDepth, s.text = dst, depth, s.text[:0]
}

// endTag reads `</name>` and closes the innermost element.
func (s *scanner) endTag() error {
	s.i += 2
	name, err := s.name()
	if err != nil {
		return err
	}
	s.spaces()
	if s.i >= len(s.b) || s.b[s.i] != '>' {
		return errUnexpectedEOF
	}
	s.i++
	if len(s.stack) == 0 || !bytes.Equal(s.stack[len(s.stack)-1].raw, name) {
		return fmt.Errorf("unexpected end tag </%s>", name)
	}
	s.closeTop()
	return nil
}

func (s *scanner) closeTop() {
	depth := len(s.stack)
	if s.capture != nil && depth == s.captureDepth {
		*s.capture = string(s.text)
		s.capture = nil
	}
	s.stack = s.stack[:depth-1]
	for len(s.ns) > 0 && s.ns[len(s.ns)-1].depth == depth {
		s.ns = s.ns[:len(s.ns)-1]
	}
}

// resolve maps a prefix to its namespace URI; xml is predeclared.
func (s *scanner) resolve(prefix []byte) ([]byte, bool) {
	for i := len(s.ns) - 1; i >= 0; i-- {
		if bytes.Equal(s.ns[i].prefix, prefix) {
			return s.ns[i].uri, true
		}
	}
	switch string(prefix) {
	case "":
		return nil, true
	case "xml":
		return []byte("http://www.w3.org/XML/1998/namespace"), true
	}
	return nil, false
}

// name reads an XML name at the cursor.
func (s *scanner) name() ([]byte, error) {
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if isSpace(c) || c == '>' || c == '/' || c == '=' || c == '<' || c == '"' || c == '\'' {
			break
		}
		s.i++
	}
	if s.i == start {
		if s.i >= len(s.b) {
			return nil, errUnexpectedEOF
		}
		return nil, fmt.Errorf("expected a name at offset %d", start)
	}
	return s.b[start:s.i], nil
}

func (s *scanner) spaces() {
	for s.i < len(s.b) && isSpace(s.b[s.i]) {
		s.i++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func splitQName(name []byte) (prefix, local []byte) {
	if i := bytes.IndexByte(name, ':'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return nil, name
}

// unescape appends t to dst with the predefined and numeric entities
// decoded.
func unescape(dst, t []byte) ([]byte, error) {
	for {
		amp := bytes.IndexByte(t, '&')
		if amp < 0 {
			return append(dst, t...), nil
		}
		dst = append(dst, t[:amp]...)
		semi := bytes.IndexByte(t[amp:], ';')
		if semi < 0 {
			return nil, errors.New("unterminated entity")
		}
		ent := t[amp+1 : amp+semi]
		switch string(ent) {
		case "lt":
			dst = append(dst, '<')
		case "gt":
			dst = append(dst, '>')
		case "amp":
			dst = append(dst, '&')
		case "quot":
			dst = append(dst, '"')
		case "apos":
			dst = append(dst, '\'')
		default:
			if len(ent) < 2 || ent[0] != '#' {
				return nil, fmt.Errorf("unknown entity &%s;", ent)
			}
			var n uint64
			var err error
			if ent[1] == 'x' {
				n, err = strconv.ParseUint(string(ent[2:]), 16, 32)
			} else {
				n, err = strconv.ParseUint(string(ent[1:]), 10, 32)
			}
			if err != nil || !utf8.ValidRune(rune(n)) {
				return nil, fmt.Errorf("invalid character reference &%s;", ent)
			}
			dst = utf8.AppendRune(dst, rune(n))
		}
		t = t[amp+semi+1:]
	}
}
