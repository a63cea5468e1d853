package winrmsim

import (
	"bytes"
	"crypto/rand"
	"encoding/xml"
	"strconv"
	"strings"
	"time"
)

// XML namespaces of WS-Management as Windows speaks it.
const (
	nsSOAP       = "http://www.w3.org/2003/05/soap-envelope"
	nsAddressing = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	nsWSMan      = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	nsShell      = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
	nsIdentity   = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"
	nsEnum       = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
)

// Actions and URIs.
const (
	actionCreate   = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
	actionDelete   = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
	actionCommand  = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"
	actionSend     = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send"
	actionReceive  = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
	actionSignal   = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal"
	actionEnum     = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate"
	actionPull     = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull"
	resourceShells = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
	actionFault    = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
	resourceCmd    = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
	stateDone      = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
	stateRunning   = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"
	signalPrefix   = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/"
	replyAnonymous = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
)

// request is the part of a WS-Management envelope the simulator reads.
// scanRequest fills it in one pass; bodies it does not know stay nil. The
// xml tags state the schema (namespace and name of every field) and let a
// test check scanRequest against encoding/xml.
type request struct {
	XMLName xml.Name `xml:"http://www.w3.org/2003/05/soap-envelope Envelope"`
	Header  struct {
		Action           string     `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Action"`
		MessageID        string     `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing MessageID"`
		ResourceURI      string     `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd ResourceURI"`
		OperationTimeout string     `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OperationTimeout"`
		MaxEnvelopeSize  string     `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd MaxEnvelopeSize"`
		Selectors        []nameText `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd SelectorSet>Selector"`
		Options          []nameText `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OptionSet>Option"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
	Body struct {
		Identify    *struct{}      `xml:"http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd Identify"`
		Shell       *struct{}      `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Shell"`
		CommandLine *commandLine   `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandLine"`
		Send        *sendBody      `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Send"`
		Receive     *receiveBody   `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Receive"`
		Signal      *signalBody    `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Signal"`
		Enumerate   *enumerateBody `xml:"http://schemas.xmlsoap.org/ws/2004/09/enumeration Enumerate"`
		Pull        *pullBody      `xml:"http://schemas.xmlsoap.org/ws/2004/09/enumeration Pull"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

// enumerateBody is the body of enumeration/Enumerate.
type enumerateBody struct {
	Optimize    *struct{} `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OptimizeEnumeration"`
	MaxElements string    `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd MaxElements"`
	Filter      *struct{} `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd Filter"`
	EnumFilter  *struct{} `xml:"http://schemas.xmlsoap.org/ws/2004/09/enumeration Filter"`
}

// pullBody is the body of enumeration/Pull.
type pullBody struct {
	EnumerationContext string `xml:"http://schemas.xmlsoap.org/ws/2004/09/enumeration EnumerationContext"`
	MaxElements        string `xml:"http://schemas.xmlsoap.org/ws/2004/09/enumeration MaxElements"`
}

// nameText is a w:Selector or w:Option: a Name attribute and a value.
type nameText struct {
	Name  string `xml:"Name,attr"`
	Value string `xml:",chardata"`
}

// commandLine is the body of shell/Command.
type commandLine struct {
	Command   string   `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Command"`
	Arguments []string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Arguments"`
}

// sendBody is the body of shell/Send.
type sendBody struct {
	Streams []stream `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Stream"`
}

// receiveBody is the body of shell/Receive.
type receiveBody struct {
	DesiredStream stream `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell DesiredStream"`
}

// signalBody is the body of shell/Signal.
type signalBody struct {
	CommandID string `xml:"CommandId,attr"`
	Code      string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Code"`
}

// stream is an rsp:Stream (Send) or rsp:DesiredStream (Receive).
type stream struct {
	Name      string `xml:"Name,attr"`
	CommandID string `xml:"CommandId,attr"`
	End       string `xml:"End,attr"`
	Value     string `xml:",chardata"`
}

// selector returns the named w:Selector value.
func (r *request) selector(name string) string {
	for _, s := range r.Header.Selectors {
		if s.Name == name {
			return strings.TrimSpace(s.Value)
		}
	}
	return ""
}

// option returns the named w:Option value and whether it was present.
func (r *request) option(name string) (string, bool) {
	for _, o := range r.Header.Options {
		if strings.EqualFold(o.Name, name) {
			return strings.TrimSpace(o.Value), true
		}
	}
	return "", false
}

// boolOption reads a TRUE/FALSE option, def when absent.
func (r *request) boolOption(name string, def bool) bool {
	v, ok := r.option(name)
	if !ok {
		return def
	}
	return strings.EqualFold(v, "true")
}

// maxEnvelope is the reply size the client accepts, in bytes.
func (r *request) maxEnvelope() int {
	n, err := strconv.Atoi(strings.TrimSpace(r.Header.MaxEnvelopeSize))
	if err != nil || n <= 0 {
		return 153600 // WinRM's default MaxEnvelopeSizekb is 150 KiB
	}
	return n
}

// parseDuration reads an xs:duration such as PT60S, PT60.000S, PT1M30S or
// P0DT0H1M0S. It is what w:OperationTimeout carries.
func parseDuration(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != 'P' {
		return 0, false
	}
	s = s[1:]
	var total float64
	inTime := false
	seen := false
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
	if !seen {
		return 0, false
	}
	return time.Duration(total * float64(time.Second)), true
}

// formatDuration writes d the way Windows does in rsp:Shell, PT7200.000S.
func formatDuration(d time.Duration) string {
	return "PT" + strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "S"
}

// newGUID returns a random (version 4) GUID in the upper-case form Windows
// uses for ShellId, CommandId and MessageID.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789ABCDEF"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&0x0f])
	}
	return string(out)
}

// Envelope openings as Windows writes them: replies declare the shell
// namespace, faults the eventing and enumeration ones.
const (
	envReply = `<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">`
	envFault = `<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">`
	envClose = `</s:Envelope>`
)

// writeHeader writes the s:Header of a reply to the request with messageID.
func writeHeader(b *bytes.Buffer, action, messageID string) {
	b.WriteString(`<s:Header><a:Action>`)
	b.WriteString(action)
	b.WriteString(`</a:Action><a:MessageID>uuid:`)
	b.WriteString(newGUID())
	b.WriteString(`</a:MessageID><a:To>`)
	b.WriteString(replyAnonymous)
	b.WriteString(`</a:To>`)
	if messageID != "" {
		b.WriteString(`<a:RelatesTo>`)
		escape(b, messageID)
		b.WriteString(`</a:RelatesTo>`)
	}
	b.WriteString(`</s:Header>`)
}

// escape writes s as XML character data.
func escape(b *bytes.Buffer, s string) {
	_ = xml.EscapeText(b, []byte(s)) // writes to a bytes.Buffer cannot fail
}

// identifyBody writes an IdentifyResponse. Windows reports its real version
// only to an authenticated caller.
func identifyBody(b *bytes.Buffer, osVersion, stack string) {
	b.WriteString(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xml:lang="en-US"><s:Header/><s:Body>`)
	b.WriteString(`<wsmid:IdentifyResponse xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">`)
	b.WriteString(`<wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd</wsmid:ProtocolVersion>`)
	b.WriteString(`<wsmid:ProductVendor>Microsoft Corporation</wsmid:ProductVendor>`)
	b.WriteString(`<wsmid:ProductVersion>OS: `)
	b.WriteString(osVersion)
	b.WriteString(` SP: 0.0 Stack: `)
	b.WriteString(stack)
	b.WriteString(`</wsmid:ProductVersion>`)
	b.WriteString(`<wsmid:SecurityProfiles>`)
	b.WriteString(`<wsmid:SecurityProfileName>http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/basic</wsmid:SecurityProfileName>`)
	b.WriteString(`<wsmid:SecurityProfileName>http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos</wsmid:SecurityProfileName>`)
	b.WriteString(`</wsmid:SecurityProfiles></wsmid:IdentifyResponse></s:Body></s:Envelope>`)
}
