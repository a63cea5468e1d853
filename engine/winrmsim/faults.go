package winrmsim

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
)

// WSManFault codes the simulated hosts return, as Windows does (the
// f:WSManFault Code attribute). Engine tests match on them.
const (
	// CodeTimedOut is ERROR_WSMAN_OPERATION_TIMEDOUT (0x80338029): a
	// Receive found no output within w:OperationTimeout. Not an error; the
	// client polls again.
	CodeTimedOut = 2150858793
	// CodeShellNotFound is ERROR_WSMAN_UNEXPECTED_SELECTORS (0x8033805B):
	// the ShellId (or CommandId) names nothing on the host, e.g. after
	// Delete, idle expiry or a reboot.
	CodeShellNotFound = 2150858843
	// CodeMissingSelectors is ERROR_WSMAN_INSUFFCIENT_SELECTORS (0x8033805A).
	CodeMissingSelectors = 2150858842
	// CodeShellQuota is the MaxShellsPerUser quota fault (0x803381A5).
	CodeShellQuota = 2150859173
	// CodeActionNotSupported is ERROR_WSMAN_ACTION_NOT_SUPPORTED (0x80338013).
	CodeActionNotSupported = 2150858771
	// CodeDestinationUnreachable is ERROR_WSMAN_DESTINATION_UNREACHABLE
	// (0x80338012); used for a resource URI the host does not serve.
	CodeDestinationUnreachable = 2150858770
	// CodeSchemaValidation is ERROR_WSMAN_SCHEMA_VALIDATION_ERROR
	// (0x80338041): the envelope is not what the schema allows.
	CodeSchemaValidation = 2150858817
	// CodeOperationAborted is ERROR_OPERATION_ABORTED (995): a Receive was
	// waiting when its command was terminated or its shell deleted.
	CodeOperationAborted = 995
	// CodeFileNotFound is ERROR_FILE_NOT_FOUND (2): with
	// WINRS_SKIP_CMD_SHELL a cmd.exe built-in is not a program.
	CodeFileNotFound = 2
	// CodeOperationsQuota is the MaxConcurrentOperationsPerUser fault
	// (0x803381A6): a shell ran as many Commands as the host allows until
	// it is deleted.
	CodeOperationsQuota = 2150859174
	// CodeEnvelopeTooBig is ERROR_WSMAN_MAX_ENVELOPE_SIZE_EXCEEDED
	// (0x80338111): a request over MaxEnvelopeSizekb.
	CodeEnvelopeTooBig = 0x80338111
	// CodeCommandLineTooLong is ERROR_FILENAME_EXCED_RANGE as an HRESULT
	// (0x800700CE): CreateProcess refused a command line of 32,767
	// characters or more (WINRS_SKIP_CMD_SHELL=TRUE).
	CodeCommandLineTooLong = 2147942606
	// CodeAccessDenied is ERROR_ACCESS_DENIED (5), and
	// CodeAccessDeniedHRESULT the same as an HRESULT (0x80070005): the
	// account may not use WinRM on the host.
	CodeAccessDenied        = 5
	CodeAccessDeniedHRESULT = 2147942405
)

// fault is a SOAP 1.2 fault carrying a WSManFault, the way Windows words it.
type fault struct {
	status  int    // HTTP status; Windows sends 500 for faults
	code    string // s:Sender or s:Receiver
	subcode string // e.g. w:InvalidSelectors
	reason  string // s:Reason/s:Text
	wsman   uint32 // f:WSManFault Code
	message string // f:WSManFault/f:Message
	// wmi sends the detail as an MSFT_WmiError (error_Code, MessageID
	// "HRESULT 0x..."), as WMI does for quota faults, instead of a
	// WSManFault.
	wmi bool
	// provider wraps the message in a f:ProviderFault of this plugin.
	provider string
}

// Error makes a fault usable as an error in logs.
func (ft *fault) Error() string {
	return fmt.Sprintf("wsman fault %d: %s", ft.wsman, ft.message)
}

func faultShellNotFound(shellID string) *fault {
	msg := "The request for the Windows Remote Shell with ShellId " + shellID + " failed because the shell was not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. Provide the correct ShellId or create a new shell and execute the remote command again. "
	return &fault{status: http.StatusInternalServerError, code: "s:Sender", subcode: "w:InvalidSelectors", reason: msg, wsman: CodeShellNotFound, message: msg}
}

func faultCommandNotFound() *fault {
	return &fault{
		status: http.StatusInternalServerError, code: "s:Sender", subcode: "w:InvalidSelectors",
		reason:  "The WS-Management service cannot process the request because the request contained invalid selectors for the resource. ",
		wsman:   CodeShellNotFound,
		message: "The Windows Remote Shell received a request to perform an operation on a command identifier that does not exist. Either the command has completed execution or the client specified an invalid command identifier. ",
	}
}

func faultMissingSelectors() *fault {
	msg := "The WS-Management service cannot process the request because the request did not contain all required selectors. "
	return &fault{status: http.StatusInternalServerError, code: "s:Sender", subcode: "w:InvalidSelectors", reason: msg, wsman: CodeMissingSelectors, message: msg}
}

func faultTimedOut() *fault {
	msg := "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  "
	return &fault{status: http.StatusInternalServerError, code: "s:Receiver", subcode: "w:TimedOut", reason: msg, wsman: CodeTimedOut, message: msg}
}

func faultShellQuota(limit int) *fault {
	return &fault{
		status: http.StatusInternalServerError, code: "s:Sender", subcode: "w:QuotaLimit",
		reason:  "The WS-Management service cannot process the request. The maximum number of concurrent shells for this user has been exceeded. Close existing shells or raise the quota for this user. ",
		wsman:   CodeShellQuota,
		message: "The WS-Management service cannot process the request. This user is allowed a maximum number of " + strconv.Itoa(limit) + " concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user. ",
	}
}

// faultOperationsQuota is a Command over MaxConcurrentOperationsPerUser.
func faultOperationsQuota(limit int) *fault {
	return &fault{
		status: http.StatusInternalServerError, code: "s:Sender", subcode: "w:QuotaLimit",
		reason:  "The WS-Management service cannot process the request. This user has exceeded the maximum number of concurrent operations. Retry after some operations finish or raise the quota for this user. ",
		wsman:   CodeOperationsQuota,
		message: "The WS-Management service cannot process the request. This user is allowed a maximum number of " + strconv.Itoa(limit) + " concurrent operations, which has been exceeded. Close existing operations for this user, or raise the quota for this user. ",
	}
}

// faultEnvelopeTooBig is a request over MaxEnvelopeSizekb.
func faultEnvelopeTooBig() *fault {
	msg := "The WS-Management service cannot process the request because the request size exceeded the configured MaxEnvelopeSize quota. "
	return &fault{status: http.StatusInternalServerError, code: "s:Sender", subcode: "w:EncodingLimit", reason: msg, wsman: CodeEnvelopeTooBig, message: msg}
}

// faultCommandLineTooLong is CreateProcess refusing a long command line,
// reported by the shell plugin.
func faultCommandLineTooLong() *fault {
	msg := "The filename or extension is too long. "
	return &fault{status: http.StatusInternalServerError, code: "s:Receiver", subcode: "w:InternalError", reason: msg,
		wsman: CodeCommandLineTooLong, message: msg, provider: "Shell cmd plugin"}
}

// faultAccessDenied is the account refused: Code 5 as w:AccessDenied, or
// the HRESULT as w:InternalError (both recorded from Windows).
func faultAccessDenied(hresult bool) *fault {
	msg := "Access is denied. "
	if hresult {
		return &fault{status: http.StatusInternalServerError, code: "s:Receiver", subcode: "w:InternalError", reason: msg, wsman: CodeAccessDeniedHRESULT, message: msg}
	}
	return &fault{status: http.StatusInternalServerError, code: "s:Sender", subcode: "w:AccessDenied", reason: msg, wsman: CodeAccessDenied, message: msg}
}

func faultActionNotSupported(action string) *fault {
	return &fault{
		status: http.StatusInternalServerError, code: "s:Sender", subcode: "a:ActionNotSupported",
		reason:  "The WS-Management service does not support the action specified in the request. ",
		wsman:   CodeActionNotSupported,
		message: "The WS-Management service does not support the action specified in the request. Action: " + action + " ",
	}
}

func faultResourceURI(uri string) *fault {
	msg := "The WS-Management service cannot process the request. The resource URI (" + uri + ") was not found in the WS-Management catalog. The catalog contains the metadata that describes resources, or logical endpoints. "
	return &fault{status: http.StatusInternalServerError, code: "s:Sender", subcode: "w:DestinationUnreachable", reason: msg, wsman: CodeDestinationUnreachable, message: msg}
}

// faultSchema is the reply to an envelope that parses but breaks the schema
// (status 500), or that does not parse at all (status 400).
func faultSchema(status int, detail string) *fault {
	return &fault{
		status: status, code: "s:Sender", subcode: "w:SchemaValidationError",
		reason:  "The SOAP XML in the message does not match the corresponding XML schema definition. Change the XML and retry. ",
		wsman:   CodeSchemaValidation,
		message: detail,
	}
}

func faultAborted() *fault {
	msg := "The I/O operation has been aborted because of either a thread exit or an application request. "
	return &fault{status: http.StatusInternalServerError, code: "s:Receiver", subcode: "w:InternalError", reason: msg, wsman: CodeOperationAborted, message: msg}
}

func faultFileNotFound() *fault {
	msg := "The system cannot find the file specified. "
	return &fault{status: http.StatusInternalServerError, code: "s:Receiver", subcode: "w:InternalError", reason: msg, wsman: CodeFileNotFound, message: msg}
}

// writeFault writes the whole fault envelope; machine is the host name.
func writeFault(b *bytes.Buffer, ft *fault, messageID, machine string) {
	b.WriteString(envFault)
	writeHeader(b, actionFault, messageID)
	b.WriteString(`<s:Body><s:Fault><s:Code><s:Value>`)
	b.WriteString(ft.code)
	b.WriteString(`</s:Value><s:Subcode><s:Value>`)
	b.WriteString(ft.subcode)
	b.WriteString(`</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">`)
	escape(b, ft.reason)
	if ft.wmi {
		// WMI's shape: single-quoted attributes, the code in error_Code
		// and as an HRESULT in MessageID.
		b.WriteString(`</s:Text></s:Reason><s:Detail><p:MSFT_WmiError b:IsCIM_Error='true' xmlns:b='http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd' xmlns:cim='http://schemas.dmtf.org/wbem/wscim/1/common' xmlns:p='http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError' xsi:type='p:MSFT_WmiError_Type' xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance'>`)
		b.WriteString(`<p:CIMStatusCode xsi:type='cim:cimUnsignedInt'>27</p:CIMStatusCode><p:Message xsi:type='cim:cimString'>`)
		escape(b, ft.message)
		b.WriteString(`</p:Message><p:MessageID xsi:type='cim:cimString'>HRESULT 0x`)
		b.WriteString(strconv.FormatUint(uint64(ft.wsman), 16))
		b.WriteString(`</p:MessageID><p:error_Category xsi:type='cim:cimUnsignedInt'>30</p:error_Category><p:error_Code xsi:type='cim:cimUnsignedInt'>`)
		b.WriteString(strconv.FormatUint(uint64(ft.wsman), 10))
		b.WriteString(`</p:error_Code><p:error_Type xsi:type='cim:cimString'>HRESULT</p:error_Type></p:MSFT_WmiError></s:Detail></s:Fault></s:Body>`)
		b.WriteString(envClose)
		return
	}
	b.WriteString(`</s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="`)
	b.WriteString(strconv.FormatUint(uint64(ft.wsman), 10))
	b.WriteString(`" Machine="`)
	escape(b, machine)
	b.WriteString(`"><f:Message>`)
	if ft.provider != "" {
		b.WriteString(`<f:ProviderFault provider="`)
		escape(b, ft.provider)
		b.WriteString(`" path="%systemroot%\system32\winrscmd.dll">`)
		escape(b, ft.message)
		b.WriteString(`</f:ProviderFault>`)
	} else {
		escape(b, ft.message)
	}
	b.WriteString(`</f:Message></f:WSManFault></s:Detail></s:Fault></s:Body>`)
	b.WriteString(envClose)
}
