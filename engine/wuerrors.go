package engine

import (
	"fmt"
	"strings"
)

// HResultInfo names an HRESULT the Windows Update Agent, Component Based
// Servicing or the Task Scheduler gives, says what it means and what
// usually fixes it. The names and meanings are the Windows SDK's
// (wuerror.h, winerror.h, schedule service); the fixes are what admins do
// about them.
type HResultInfo struct {
	Code    uint32 `json:"code"`
	Hex     string `json:"hex"`  // "0x80070643"
	Name    string `json:"name"` // "ERROR_INSTALL_FAILURE"; "" when unknown
	Meaning string `json:"meaning"`
	Fix     string `json:"fix,omitempty"`
}

// hresults is the table DescribeHResult reads.
var hresults = map[uint32]HResultInfo{
	0x00041301: {Name: "SCHED_S_TASK_RUNNING", Meaning: "the task is running"},
	0x00041303: {Name: "SCHED_S_TASK_HAS_NOT_RUN", Meaning: "the task has not run yet",
		Fix: "the Task Scheduler did not start it: check that the Task Scheduler service runs and that no policy (or EDR) blocks tasks that run as SYSTEM"},
	0x00041306: {Name: "SCHED_S_TASK_TERMINATED", Meaning: "the last run of the task was terminated (stopped)"},
	0x80004005: {Name: "E_FAIL", Meaning: "unspecified error", Fix: "read C:\\Windows\\Logs\\CBS\\CBS.log and the WindowsUpdateClient event log on the host"},
	0x80070002: {Name: "ERROR_FILE_NOT_FOUND", Meaning: "the system cannot find the file specified",
		Fix: "the Windows Update cache is damaged: stop wuauserv and bits, rename C:\\Windows\\SoftwareDistribution, start them, scan again"},
	0x80070005: {Name: "E_ACCESSDENIED", Meaning: "access is denied",
		Fix: "the Windows Update Agent refuses downloads and installs to remote sessions, which is why rmm installs in a SYSTEM task; from a task, check that the account is a local administrator and that nothing blocks SYSTEM tasks"},
	0x8007000E: {Name: "E_OUTOFMEMORY", Meaning: "not enough memory", Fix: "restart the host and install again"},
	0x80070070: {Name: "ERROR_DISK_FULL", Meaning: "there is not enough space on the disk",
		Fix: "free space on the system drive (a cumulative update needs several GB): the clear-temp action, Disk Cleanup, DISM /Online /Cleanup-Image /StartComponentCleanup"},
	0x80070103: {Name: "ERROR_NO_MORE_ITEMS", Meaning: "the driver is already installed, or a better-matching one is",
		Fix: "usually harmless for a driver update: deny it for the device's ring so it stops being offered"},
	0x8007045B: {Name: "ERROR_SHUTDOWN_IN_PROGRESS", Meaning: "a system shutdown is in progress", Fix: "install again once the host is back"},
	0x800704C7: {Name: "ERROR_CANCELLED", Meaning: "the operation was canceled (a stopped task, or a restart during the install)"},
	0x80070643: {Name: "ERROR_INSTALL_FAILURE", Meaning: "fatal error during installation",
		Fix: "for KB5034441 the recovery (WinRE) partition is too small: grow it (Microsoft's KB5028997) or add the KB to patches.deny; for .NET updates run the .NET Framework Repair Tool"},
	0x80070BC9: {Name: "ERROR_FAIL_REBOOT_REQUIRED", Meaning: "a restart is required before this can be installed", Fix: "restart the host, then install again"},
	0x80072EE2: {Name: "ERROR_INTERNET_TIMEOUT", Meaning: "the connection to the update service timed out",
		Fix: "check the host's route and proxy to Windows Update or its WSUS server (netsh winhttp show proxy)"},
	0x80072EFD: {Name: "ERROR_INTERNET_CANNOT_CONNECT", Meaning: "the connection to the update service could not be established",
		Fix: "a firewall or proxy blocks the update service: allow the Windows Update endpoints or the WSUS port (8530/8531)"},
	0x80072F8F: {Name: "ERROR_INTERNET_SECURE_FAILURE", Meaning: "a TLS error with the update service",
		Fix: "check the host's clock, its root certificates and TLS 1.2; SSL inspection on a proxy breaks Windows Update"},
	0x80073712: {Name: "ERROR_SXS_COMPONENT_STORE_CORRUPT", Meaning: "the component store has been corrupted",
		Fix: "run DISM /Online /Cleanup-Image /RestoreHealth, then sfc /scannow, then install again"},
	0x800F081F: {Name: "CBS_E_SOURCE_MISSING", Meaning: "the source files of a package could not be found",
		Fix: "allow Windows Update as a repair source (group policy: Specify settings for optional component installation) or give DISM a /Source"},
	0x800F0831: {Name: "CBS_E_STORE_CORRUPTION", Meaning: "a package the update builds on is missing from the component store",
		Fix: "install the previous cumulative update from the Microsoft Update Catalog, or run DISM /RestoreHealth"},
	0x800F0922: {Name: "CBS_E_INSTALLERS_FAILED", Meaning: "processing advanced installers and generic commands failed",
		Fix: "often the System Reserved partition is full or the host could not reach the update service mid-install: free that partition, check the network, install again"},
	0x80240001: {Name: "WU_E_NO_SERVICE", Meaning: "the Windows Update Agent was unable to provide the service", Fix: "start the wuauserv service and scan again"},
	0x80240009: {Name: "WU_E_OPERATIONINPROGRESS", Meaning: "another conflicting operation was in progress",
		Fix: "another install runs (Windows' own automatic updates, or another tool): wait for it; rmm does not retry by itself"},
	0x80240016: {Name: "WU_E_INSTALL_NOT_ALLOWED", Meaning: "an installation is in progress or the system is pending a mandatory restart",
		Fix: "restart the host, then install again"},
	0x80240017: {Name: "WU_E_NOT_APPLICABLE", Meaning: "there are no applicable updates", Fix: "nothing to do: scan again"},
	0x8024001E: {Name: "WU_E_SERVICE_STOP", Meaning: "the operation did not complete because the service or system was being shut down",
		Fix: "install again once the host is up"},
	0x80240020: {Name: "WU_E_NO_INTERACTIVE_USER", Meaning: "the update needs a logged-on interactive user", Fix: "install it while a user is logged on"},
	0x80240022: {Name: "WU_E_ALL_UPDATES_FAILED", Meaning: "the operation failed for all the updates", Fix: "read each update's own code"},
	0x80240024: {Name: "WU_E_NO_UPDATE", Meaning: "there are no updates"},
	0x8024002E: {Name: "WU_E_WU_DISABLED", Meaning: "access to an unmanaged server is not allowed",
		Fix: "the host may only use its WSUS server (DoNotConnectToWindowsUpdateInternetLocations): approve the update on WSUS, or change the policy"},
	0x80240032: {Name: "WU_E_INVALID_CRITERIA", Meaning: "the search criteria string was invalid"},
	0x8024200B: {Name: "WU_E_UH_INSTALLERFAILURE", Meaning: "the update's installer failed", Fix: "read the update's own log (CBS.log, or the vendor's for a driver)"},
	0x8024200D: {Name: "WU_E_UH_NEEDANOTHERDOWNLOAD", Meaning: "the update needs another download", Fix: "it installs in the next round: scan and install again"},
	0x80242016: {Name: "WU_E_UH_POSTREBOOTUNEXPECTEDSTATE", Meaning: "the post-restart operation found an unexpected state", Fix: "restart the host and scan again"},
	0x80244010: {Name: "WU_E_PT_EXCEEDED_MAX_SERVER_TRIPS", Meaning: "the search exceeded the number of server round trips",
		Fix: "scan again; on WSUS, decline superseded updates to shrink the catalog"},
	0x80244018: {Name: "WU_E_PT_HTTP_STATUS_FORBIDDEN", Meaning: "the update service answered HTTP 403 (forbidden)",
		Fix: "a proxy refuses the host: allow the Windows Update endpoints, or the WSUS server"},
	0x80244019: {Name: "WU_E_PT_HTTP_STATUS_NOT_FOUND", Meaning: "the update service answered HTTP 404 (not found)",
		Fix: "the WSUS URL in group policy is wrong, or WSUS lacks the update's content"},
	0x8024401C: {Name: "WU_E_PT_HTTP_STATUS_REQUEST_TIMEOUT", Meaning: "the update service timed out (HTTP 408)",
		Fix: "the WSUS server or a proxy is overloaded or unreachable: check WUServer in group policy and the WSUS application pool in IIS"},
	0x80244022: {Name: "WU_E_PT_HTTP_STATUS_SERVICE_UNAVAIL", Meaning: "the update service is unavailable (HTTP 503)",
		Fix: "the WSUS application pool stopped: start it in IIS and raise its private memory limit"},
	0x8024402C: {Name: "WU_E_PT_WINHTTP_NAME_NOT_RESOLVED", Meaning: "the proxy or update server name could not be resolved",
		Fix: "check the host's DNS and its WinHTTP proxy (netsh winhttp show proxy)"},
	0x8024402F: {Name: "WU_E_PT_ECP_SUCCEEDED_WITH_ERRORS", Meaning: "external cab file processing completed with errors",
		Fix: "a proxy or content filter altered the download: exempt the update service from inspection"},
}

// facilities name the parts of the Windows Update Agent by the third
// hex digit group of their 0x8024xxxx codes, for codes not in the table.
var wuFacilities = map[uint32]string{
	0x0: "the Windows Update Agent",
	0x2: "the update handler (installer)",
	0x3: "the Windows Update Agent's reporting",
	0x4: "the protocol talker (the network to the update service)",
	0x5: "the Windows Update Agent's reporting",
	0x6: "the download manager",
	0x8: "the setup of the Windows Update Agent",
	0xA: "Automatic Updates",
	0xC: "the data store",
	0xD: "the Windows Update Agent's setup",
	0xF: "the Windows Update Agent",
}

// DescribeHResult names an HRESULT (as PowerShell prints it, an Int32,
// or as a uint32) and says what it means and how it is usually fixed.
func DescribeHResult(hr int64) HResultInfo {
	code := uint32(hr)
	info, ok := hresults[code]
	info.Code, info.Hex = code, fmt.Sprintf("0x%08X", code)
	if ok {
		return info
	}
	switch {
	case code&0xFFFF0000 == 0x80240000:
		info.Meaning = "an error of " + wuFacilities[(code>>12)&0xF]
		if info.Meaning == "an error of " {
			info.Meaning = "a Windows Update Agent error"
		}
		info.Fix = "look the code up in Microsoft's Windows Update error code reference; C:\\Windows\\Logs\\WindowsUpdate (Get-WindowsUpdateLog) has the details"
	case code&0xFFFF0000 == 0x80070000:
		info.Meaning = fmt.Sprintf("Win32 error %d", code&0xFFFF)
	case code&0xFFFF0000 == 0x800F0000:
		info.Meaning = "a Component Based Servicing error"
		info.Fix = "C:\\Windows\\Logs\\CBS\\CBS.log on the host says which package failed"
	case code == 0:
		info.Meaning = "success"
	default:
		info.Meaning = "unknown code"
	}
	return info
}

// String reads "0x80070643 ERROR_INSTALL_FAILURE (fatal error during
// installation)".
func (h HResultInfo) String() string {
	var b strings.Builder
	b.WriteString(h.Hex)
	if h.Name != "" {
		b.WriteString(" " + h.Name)
	}
	if h.Meaning != "" {
		b.WriteString(" (" + h.Meaning + ")")
	}
	return b.String()
}

// WithFix is String and, when known, the fix.
func (h HResultInfo) WithFix() string {
	if h.Fix == "" {
		return h.String()
	}
	return h.String() + "; fix: " + h.Fix
}
