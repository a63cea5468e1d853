package winrm

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// shells.go: the shells a host holds, as WS-Management enumeration lists
// them, and deleting one by id. A crashed rmm never deletes its shells;
// the host keeps them until its IdleTimeout (2 hours by default) and
// counts them against MaxShellsPerUser (30). The engine records every
// shell the client opens (Options.OnShellCreate) and deletes the leftovers of
// a process that is gone (DeleteShell); a shell opened just before a
// crash, too late to be recorded, is found by enumeration when the host's
// quota is hit (Options.OrphanShells).
//
// Windows 7 and Server 2008 R2 and later enumerate shells on the resource
// URI .../windows/shell, whatever their kind; .../windows/shell/cmd gets
// an ActionNotSupported fault (MS-WSMV 3.1.4.8.2, note 114). The reply is
// an optimized EnumerateResponse (w:Items of rsp:Shell, w:EndOfSequence)
// or, for more items than fit, an EnumerationContext to Pull from.

// CmdShellURI is the resource URI of a cmd shell, what rmm opens.
const CmdShellURI = uriShellCmd

// WS-Enumeration.
const (
	uriShellEnum      = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
	uriActionEnum     = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate"
	uriActionPull     = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull"
	nsEnumeration     = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
	maxEnumerateItems = 32000 // what WinRM's own clients ask for
	maxPulls          = 100   // a host that never ends the sequence
)

// ShellInfo is one shell a host lists.
type ShellInfo struct {
	ID          string
	ResourceURI string        // .../windows/shell/cmd for a cmd shell
	Owner       string        // the account, e.g. `WS-0042\rmm` or `CONTOSO\svc-rmm`
	ClientIP    string        // the address the host saw the shell's creator come from
	State       string        // e.g. Connected, Disconnected
	RunTime     time.Duration // since it was created
	Inactivity  time.Duration // since it was last used
}

// ShellRef names a shell the client opens, for Options.OnShellCreate and
// OnShellClosed.
type ShellRef struct {
	Ref      int64  // Target.Ref of the target it was opened on
	Host     string // the device's hostname
	Endpoint string // the WS-Man URL
	ShellID  string
}

// shellBody is the part of an rsp:Shell the client reads.
type shellBody struct {
	ShellID         string `xml:"ShellId"`
	ResourceURI     string `xml:"ResourceUri"`
	Owner           string `xml:"Owner"`
	ClientIP        string `xml:"ClientIP"`
	State           string `xml:"State"`
	ShellRunTime    string `xml:"ShellRunTime"`
	ShellInactivity string `xml:"ShellInactivity"`
}

// enumeration is what one EnumerateResponse or PullResponse held.
type enumeration struct {
	shells  []ShellInfo
	context string
	end     bool
}

// parseEnumeration reads an EnumerateResponse or PullResponse.
func parseEnumeration(b []byte) (enumeration, error) {
	var out enumeration
	d := xml.NewDecoder(bytes.NewReader(b))
	sawResponse := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, fmt.Errorf("%w: %v", errMalformed, err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "EnumerateResponse", "PullResponse":
			sawResponse = true
		case "EnumerationContext":
			var s string
			if err := d.DecodeElement(&s, &se); err != nil {
				return out, fmt.Errorf("%w: EnumerationContext: %v", errMalformed, err)
			}
			out.context = strings.TrimSpace(s)
		case "EndOfSequence":
			out.end = true
		case "Shell":
			var sb shellBody
			if err := d.DecodeElement(&sb, &se); err != nil {
				return out, fmt.Errorf("%w: Shell: %v", errMalformed, err)
			}
			si := ShellInfo{ID: strings.TrimSpace(sb.ShellID), ResourceURI: strings.TrimSpace(sb.ResourceURI),
				Owner: strings.TrimSpace(sb.Owner), ClientIP: strings.TrimSpace(sb.ClientIP), State: strings.TrimSpace(sb.State)}
			si.RunTime, _ = parseXSDuration(sb.ShellRunTime)
			si.Inactivity, _ = parseXSDuration(sb.ShellInactivity)
			if si.ID != "" {
				out.shells = append(out.shells, si)
			}
		}
	}
	if !sawResponse {
		return out, fmt.Errorf("%w: no EnumerateResponse or PullResponse", errMalformed)
	}
	return out, nil
}

// enumEnvelope builds an Enumerate (context "") or a Pull of the shell
// resource.
func (ep *endpoint) enumEnvelope(context string) []byte {
	var b bytes.Buffer
	action := uriActionEnum
	if context != "" {
		action = uriActionPull
	}
	b.WriteString(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" ` +
		`xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:n="` + nsEnumeration + `"><s:Header><a:To>`)
	b.Write(appendEscaped(nil, ep.url))
	b.WriteString(`</a:To><a:ReplyTo><a:Address s:mustUnderstand="true">` + uriAnonymous + `</a:Address></a:ReplyTo>` +
		`<w:MaxEnvelopeSize s:mustUnderstand="true">153600</w:MaxEnvelopeSize><a:MessageID>`)
	b.Write(appendUUID(nil))
	b.WriteString(`</a:MessageID><w:Locale xml:lang="en-US" s:mustUnderstand="false"/><w:OperationTimeout>` + opTimeoutText +
		`</w:OperationTimeout><a:Action s:mustUnderstand="true">` + action + `</a:Action>` +
		`<w:ResourceURI s:mustUnderstand="true">` + uriShellEnum + `</w:ResourceURI></s:Header><s:Body>`)
	if context == "" {
		b.WriteString(`<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>` + strconv.Itoa(maxEnumerateItems) +
			`</w:MaxElements></n:Enumerate>`)
	} else {
		b.WriteString(`<n:Pull><n:EnumerationContext>`)
		b.Write(appendEscaped(nil, context))
		b.WriteString(`</n:EnumerationContext><n:MaxElements>` + strconv.Itoa(maxEnumerateItems) + `</n:MaxElements></n:Pull>`)
	}
	b.WriteString(`</s:Body></s:Envelope>`)
	return b.Bytes()
}

// listShells enumerates the host's shells, pulling until the end of the
// sequence.
func (ep *endpoint) listShells(ctx context.Context) ([]ShellInfo, error) {
	var all []ShellInfo
	context := ""
	for range maxPulls {
		p, err := ep.post(ctx, ep.enumEnvelope(context))
		if err != nil {
			return nil, err
		}
		en, err := parseEnumeration(*p)
		ep.release(p)
		if err != nil {
			return nil, err
		}
		all = append(all, en.shells...)
		if en.end || en.context == "" {
			return all, nil
		}
		context = en.context
	}
	return nil, fmt.Errorf("%w: the shell enumeration did not end after %d pulls", errMalformed, maxPulls)
}

// shellEndpoint builds an endpoint of the target for listing and
// deleting shells by id, with the target's own auth (sealed for NTLM,
// Kerberos and Negotiate, as the pool's).
func (c *Client) shellEndpoint(ctx context.Context, t Target, cred Credential) (*endpoint, error) {
	t = t.Prepare()
	dt, err := c.transportFor(ctx, t)
	if err != nil {
		return nil, err
	}
	return c.endpointFor(t, dt, cred, nil), nil
}

// ListShells returns the shells the target lists to cred's account
// (WS-Man Enumerate of .../windows/shell): its own, or every user's for an
// administrator. Errors are classed *Error values.
func (c *Client) ListShells(ctx context.Context, t Target, cred Credential) ([]ShellInfo, error) {
	ep, err := c.shellEndpoint(ctx, t, cred)
	if err != nil {
		return nil, classed(t.Host, failed("list shells", err))
	}
	shells, err := ep.listShells(ctx)
	if err != nil {
		return nil, classed(t.Host, failed("list shells", err))
	}
	return shells, nil
}

// DeleteShell deletes one shell of the target by id. A shell the host no
// longer knows is not an error.
func (c *Client) DeleteShell(ctx context.Context, t Target, cred Credential, shellID string) error {
	ep, err := c.shellEndpoint(ctx, t, cred)
	if err != nil {
		return classed(t.Host, failed("delete shell", err))
	}
	if err := ep.deleteShell(ctx, shellID); err != nil && !isShellLost(err) {
		return classed(t.Host, failed("delete shell", err))
	}
	return nil
}

// SameAccount reports whether owner (as a host lists it: `HOST\user`,
// `DOMAIN\user`, `user`) is the account user logs in as (`user`,
// `.\user`, `DOMAIN\user`, `user@domain`), by the account name alone,
// case-insensitively: the host may name a local account with its own
// name where the credential says nothing or ".".
func SameAccount(owner, user string) bool {
	name := func(s string) string {
		s = strings.TrimSpace(s)
		if i := strings.LastIndexByte(s, '\\'); i >= 0 {
			s = s[i+1:]
		}
		if i := strings.IndexByte(s, '@'); i >= 0 {
			s = s[:i]
		}
		return strings.ToLower(s)
	}
	return owner != "" && name(owner) == name(user)
}

// parseXSDuration reads an xs:duration as WinRM writes them: PT7200.000S,
// P0DT0H1M9S.
func parseXSDuration(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != 'P' {
		return 0, false
	}
	s = s[1:]
	var total float64
	inTime, seen := false, false
	for len(s) > 0 {
		if s[0] == 'T' {
			inTime = true
			s = s[1:]
			continue
		}
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 || i == len(s) {
			return 0, false
		}
		v, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, false
		}
		switch unit := s[i]; {
		case unit == 'D' && !inTime:
			total += v * 86400
		case unit == 'H' && inTime:
			total += v * 3600
		case unit == 'M' && inTime:
			total += v * 60
		case unit == 'S' && inTime:
			total += v
		default:
			return 0, false
		}
		seen = true
		s = s[i+1:]
	}
	return time.Duration(total * float64(time.Second)), seen
}

// createRecorded asks a host for a shell through create, telling on (when
// set) before it asks and once the host answered.
func createRecorded(ctx context.Context, on func(context.Context, ShellRef) func(string, bool), ref ShellRef,
	create func() (id, clientIP string, err error)) (string, string, error) {
	var created func(string, bool)
	if on != nil {
		created = on(ctx, ref)
	}
	id, clientIP, err := create()
	if created != nil {
		created(id, err != nil && answerLost(err))
	}
	return id, clientIP, err
}

// answerLost reports whether a failed Create may have made a shell: the
// request went out and no answer came back (a timeout, a cut connection,
// an answer that could not be read). A refused dial, an HTTP error or a
// fault is an answer: no shell.
func answerLost(err error) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	return errors.Is(err, errMalformed) || classify(err) == ClassTransient
}
