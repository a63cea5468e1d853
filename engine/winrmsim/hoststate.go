package winrmsim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// ServiceInfo is one Windows service of a simulated host.
type ServiceInfo struct {
	Name        string // service name, e.g. Spooler
	DisplayName string // e.g. Print Spooler
	State       string // Running or Stopped
	StartType   string // Automatic, Manual or Disabled
}

// Service states and start types as Get-Service prints them.
const (
	svcRunning   = "Running"
	svcStopped   = "Stopped"
	startAuto    = "Automatic"
	startManual  = "Manual"
	startDisable = "Disabled"
)

// svcDef is one service a host may have. scope says which hosts have it:
// "*" every host, "w" workstations, "s" servers, "u" per-user service
// (a template plus an instance named <name>_<suffix>), or a vendor or
// role key (hv, vm, dell, hp, lenovo, and the server tags sql, iis, dc,
// file, print, backup). pct is the chance a host in scope has it.
type svcDef struct {
	name, display string
	start         string
	running       bool // its state on a healthy host
	scope         string
	pct           int
	process       string // its own process, if not a svchost
}

// serviceCatalog is every service the simulator knows, parsed once from
// serviceTable. It is never written after package initialisation.
var serviceCatalog = parseServiceTable(serviceTable)

// serviceTable: name|display name|start (A, M, D)|state (R, S)|scope|pct[|process].
const serviceTable = `
AJRouter|AllJoyn Router Service|M|S|*|90
ALG|Application Layer Gateway Service|M|S|*|95
AppIDSvc|Application Identity|M|S|*|95
Appinfo|Application Information|M|R|*|100
AppMgmt|Application Management|M|S|*|80
AppReadiness|App Readiness|M|S|*|95
AppVClient|Microsoft App-V Client|D|S|*|90
AppXSvc|AppX Deployment Service (AppXSVC)|M|R|w|100
AppXSvc|AppX Deployment Service (AppXSVC)|M|S|s|100
AssignedAccessManagerSvc|AssignedAccessManager Service|M|S|w|90
AudioEndpointBuilder|Windows Audio Endpoint Builder|A|R|w|100
Audiosrv|Windows Audio|A|R|w|100
Audiosrv|Windows Audio|M|S|s|100
autotimesvc|Cellular Time|M|S|w|80
AxInstSV|ActiveX Installer (AxInstSV)|M|S|*|90
BDESVC|BitLocker Drive Encryption Service|M|S|*|90
BFE|Base Filtering Engine|A|R|*|100
BITS|Background Intelligent Transfer Service|A|R|*|100
BrokerInfrastructure|Background Tasks Infrastructure Service|A|R|*|100
BTAGService|Bluetooth Audio Gateway Service|M|S|w|85
BthAvctpSvc|AVCTP service|M|R|w|85
bthserv|Bluetooth Support Service|M|S|w|85
camsvc|Capability Access Manager Service|M|R|*|95
CDPSvc|Connected Devices Platform Service|A|R|*|95
CertPropSvc|Certificate Propagation|M|R|*|95
ClipSVC|Client License Service (ClipSVC)|M|S|*|95
COMSysApp|COM+ System Application|M|S|*|100
CoreMessagingRegistrar|CoreMessaging|A|R|*|100
CryptSvc|Cryptographic Services|A|R|*|100
CscService|Offline Files|M|S|w|80
DcomLaunch|DCOM Server Process Launcher|A|R|*|100
dcsvc|Declared Configuration(DC) service|M|S|*|60
defragsvc|Optimize drives|M|S|*|100
DeviceAssociationService|Device Association Service|M|R|*|95
DeviceInstall|Device Install Service|M|S|*|100
DevQueryBroker|DevQuery Background Discovery Broker|M|S|*|95
Dhcp|DHCP Client|A|R|*|100
diagnosticshub.standardcollector.service|Microsoft (R) Diagnostics Hub Standard Collector Service|M|S|*|90
diagsvc|Diagnostic Execution Service|M|S|*|90
DiagTrack|Connected User Experiences and Telemetry|A|R|*|95
DispBrokerDesktopSvc|Display Policy Service|A|R|*|95
DisplayEnhancementService|Display Enhancement Service|M|S|w|90
DmEnrollmentSvc|Device Management Enrollment Service|M|S|*|95
dmwappushservice|Device Management Wireless Application Protocol (WAP) Push message Routing Service|M|S|*|95
Dnscache|DNS Client|A|R|*|100
DoSvc|Delivery Optimization|A|R|w|100
dot3svc|Wired AutoConfig|M|S|*|95
DPS|Diagnostic Policy Service|A|R|*|100
DsRoleSvc|DS Role Server|M|S|s|90
DsmSvc|Device Setup Manager|M|R|*|95
DsSvc|Data Sharing Service|M|R|*|90
DusmSvc|Data Usage|A|R|w|100
Eaphost|Extensible Authentication Protocol|M|S|*|100
EFS|Encrypting File System (EFS)|M|S|*|100
embeddedmode|Embedded Mode|M|S|*|85
EntAppSvc|Enterprise App Management Service|M|S|*|85
EventLog|Windows Event Log|A|R|*|100
EventSystem|COM+ Event System|A|R|*|100
Fax|Fax|M|S|w|60
fdPHost|Function Discovery Provider Host|M|S|*|95
FDResPub|Function Discovery Resource Publication|M|S|*|95
fhsvc|File History Service|M|S|w|85
FontCache|Windows Font Cache Service|A|R|*|100
FrameServer|Windows Camera Frame Server|M|S|w|85
FrameServerMonitor|Windows Camera Frame Server Monitor|M|S|w|60
gpsvc|Group Policy Client|A|R|*|100
GraphicsPerfSvc|GraphicsPerfSvc|M|S|*|90
hidserv|Human Interface Device Service|M|S|*|95
HvHost|HV Host Service|M|S|*|85
icssvc|Windows Mobile Hotspot Service|M|S|w|85
IKEEXT|IKE and AuthIP IPsec Keying Modules|M|S|*|100
InstallService|Microsoft Store Install Service|M|S|*|90
InventorySvc|Inventory and Compatibility Appraisal service|M|S|w|60
iphlpsvc|IP Helper|A|R|*|100
IpxlatCfgSvc|IP Translation Configuration Service|M|S|*|85
KeyIso|CNG Key Isolation|M|R|*|100
KtmRm|KtmRm for Distributed Transaction Coordinator|M|S|*|95
LanmanServer|Server|A|R|*|100
LanmanWorkstation|Workstation|A|R|*|100
lfsvc|Geolocation Service|M|S|*|85
LicenseManager|Windows License Manager Service|M|R|*|90
lltdsvc|Link-Layer Topology Discovery Mapper|M|S|*|90
lmhosts|TCP/IP NetBIOS Helper|M|R|*|100
LSM|Local Session Manager|A|R|*|100
LxpSvc|Language Experience Service|M|S|w|85
MapsBroker|Downloaded Maps Manager|M|S|*|85
McpManagementService|McpManagementService|M|S|w|70
MicrosoftEdgeElevationService|Microsoft Edge Elevation Service (MicrosoftEdgeElevationService)|M|S|*|85
edgeupdate|Microsoft Edge Update Service (edgeupdate)|M|S|*|85
edgeupdatem|Microsoft Edge Update Service (edgeupdatem)|M|S|*|85
MixedRealityOpenXRSvc|Windows Mixed Reality OpenXR Service|M|S|w|60
mpssvc|Windows Defender Firewall|A|R|*|100
MSDTC|Distributed Transaction Coordinator|M|S|w|95
MSDTC|Distributed Transaction Coordinator|A|R|s|100
MSiSCSI|Microsoft iSCSI Initiator Service|M|S|*|95
msiserver|Windows Installer|M|S|*|100
MsKeyboardFilter|Microsoft Keyboard Filter|D|S|w|70
NaturalAuthentication|Natural Authentication|M|S|w|80
NcaSvc|Network Connectivity Assistant|M|S|*|90
NcbService|Network Connection Broker|M|R|*|95
NcdAutoSetup|Network Connected Devices Auto-Setup|M|S|w|85
Netlogon|Netlogon|M|S|w|100
Netlogon|Netlogon|A|R|s|100
Netman|Network Connections|M|S|*|100
netprofm|Network List Service|M|R|*|100
NetSetupSvc|Network Setup Service|M|S|*|95
NetTcpPortSharing|Net.Tcp Port Sharing Service|D|S|*|90
NgcCtnrSvc|Microsoft Passport Container|M|S|*|90
NgcSvc|Microsoft Passport|M|S|*|90
NlaSvc|Network Location Awareness|A|R|*|100
nsi|Network Store Interface Service|A|R|*|100
p2pimsvc|Peer Networking Identity Manager|M|S|w|80
p2psvc|Peer Networking Grouping|M|S|w|80
PcaSvc|Program Compatibility Assistant Service|A|R|w|100
PeerDistSvc|BranchCache|M|S|*|85
PerfHost|Performance Counter DLL Host|M|S|*|95
PhoneSvc|Phone Service|M|S|w|85
pla|Performance Logs & Alerts|M|S|*|100
PlugPlay|Plug and Play|M|R|*|100
PNRPAutoReg|PNRP Machine Name Publication Service|M|S|w|70
PNRPsvc|Peer Name Resolution Protocol|M|S|w|70
PolicyAgent|IPsec Policy Agent|M|R|*|100
Power|Power|A|R|*|100
PrintNotify|Printer Extensions and Notifications|M|S|*|95
ProfSvc|User Profile Service|A|R|*|100
PushToInstall|Windows PushToInstall Service|M|S|w|85
QWAVE|Quality Windows Audio Video Experience|M|S|w|80
RasAuto|Remote Access Auto Connection Manager|M|S|*|95
RasMan|Remote Access Connection Manager|M|R|w|95
RasMan|Remote Access Connection Manager|M|S|s|95
RemoteAccess|Routing and Remote Access|D|S|*|95
RemoteRegistry|Remote Registry|D|S|w|100
RemoteRegistry|Remote Registry|M|S|s|100
RetailDemo|Retail Demo Service|M|S|w|80
RmSvc|Radio Management Service|M|R|w|85
RpcEptMapper|RPC Endpoint Mapper|A|R|*|100
RpcLocator|Remote Procedure Call (RPC) Locator|M|S|*|100
RpcSs|Remote Procedure Call (RPC)|A|R|*|100
RSoPProv|Resultant Set of Policy Provider|M|S|s|90
sacsvr|Special Administration Console Helper|M|S|s|80
SamSs|Security Accounts Manager|A|R|*|100
SCardSvr|Smart Card|M|S|w|100
SCardSvr|Smart Card|D|S|s|100
ScDeviceEnum|Smart Card Device Enumeration Service|M|S|*|95
Schedule|Task Scheduler|A|R|*|100
SCPolicySvc|Smart Card Removal Policy|M|S|*|95
SDRSVC|Windows Backup|M|S|w|80
seclogon|Secondary Logon|M|S|*|100
SecurityHealthService|Windows Security Service|M|R|w|100
SEMgrSvc|Payments and NFC/SE Manager|M|S|w|80
SENS|System Event Notification Service|A|R|*|100
Sense|Windows Defender Advanced Threat Protection Service|M|S|*|80
SensorDataService|Sensor Data Service|M|S|w|80
SensorService|Sensor Service|M|S|w|80
SensrSvc|Sensor Monitoring Service|M|S|w|80
SessionEnv|Remote Desktop Configuration|M|S|w|100
SessionEnv|Remote Desktop Configuration|M|R|s|100
SgrmBroker|System Guard Runtime Monitor Broker|A|R|*|50
SharedAccess|Internet Connection Sharing (ICS)|M|S|*|90
SharedRealitySvc|Spatial Data Service|M|S|w|70
ShellHWDetection|Shell Hardware Detection|A|R|*|100
shpamsvc|Shared PC Account Manager|D|S|w|80
smphost|Microsoft Storage Spaces SMP|M|S|*|95
SmsRouter|Microsoft Windows SMS Router Service.|M|S|w|80
SNMP|SNMP Service|A|R|s|40|snmp
SNMPTrap|SNMP Trap|M|S|*|85
sshd|OpenSSH SSH Server|M|S|s|50
spectrum|Windows Perception Service|M|S|w|60
Spooler|Print Spooler|A|R|*|100|spoolsv
sppsvc|Software Protection|M|S|*|100
SSDPSRV|SSDP Discovery|M|S|w|95
SSDPSRV|SSDP Discovery|D|S|s|95
ssh-agent|OpenSSH Authentication Agent|D|S|*|80
SstpSvc|Secure Socket Tunneling Protocol Service|M|R|*|95
StateRepository|State Repository Service|M|R|*|100
stisvc|Windows Image Acquisition (WIA)|M|S|w|90
StorSvc|Storage Service|M|R|*|95
svsvc|Spot Verifier|M|S|*|95
swprv|Microsoft Software Shadow Copy Provider|M|S|*|100
SysMain|SysMain|A|R|w|100
SystemEventsBroker|System Events Broker|A|R|*|100
TabletInputService|Touch Keyboard and Handwriting Panel Service|M|R|w|95
TapiSrv|Telephony|M|S|*|95
TermService|Remote Desktop Services|M|S|w|100
TermService|Remote Desktop Services|M|R|s|100
TextInputManagementService|Text Input Management Service|A|R|w|50
Themes|Themes|A|R|w|100
Themes|Themes|M|S|s|100
TieringEngineService|Storage Tiers Management|M|S|*|90
TimeBrokerSvc|Time Broker|M|R|*|100
TokenBroker|Web Account Manager|M|R|*|95
TrkWks|Distributed Link Tracking Client|A|R|*|100
TroubleshootingSvc|Recommended Troubleshooting Service|M|S|*|85
TrustedInstaller|Windows Modules Installer|M|S|*|100
tzautoupdate|Auto Time Zone Updater|D|S|*|90
UALSVC|User Access Logging Service|A|R|s|95
UevAgentService|User Experience Virtualization Service|D|S|*|85
uhssvc|Microsoft Update Health Service|D|S|w|60
UmRdpService|Remote Desktop Services UserMode Port Redirector|M|S|w|100
UmRdpService|Remote Desktop Services UserMode Port Redirector|M|R|s|100
upnphost|UPnP Device Host|M|S|w|90
UserManager|User Manager|A|R|*|100
UsoSvc|Update Orchestrator Service|A|R|*|100
VaultSvc|Credential Manager|M|R|*|100
vds|Virtual Disk|M|S|*|100
vmicguestinterface|Hyper-V Guest Service Interface|M|S|*|90
vmicheartbeat|Hyper-V Heartbeat Service|M|S|*|90
vmickvpexchange|Hyper-V Data Exchange Service|M|S|*|90
vmicrdv|Hyper-V Remote Desktop Virtualization Service|M|S|*|90
vmicshutdown|Hyper-V Guest Shutdown Service|M|S|*|90
vmictimesync|Hyper-V Time Synchronization Service|M|S|*|90
vmicvmsession|Hyper-V PowerShell Direct Service|M|S|*|90
vmicvss|Hyper-V Volume Shadow Copy Requestor|M|S|*|90
VSS|Volume Shadow Copy|M|S|*|100
W32Time|Windows Time|A|R|*|100
WaaSMedicSvc|Windows Update Medic Service|M|S|*|95
WalletService|WalletService|M|S|w|85
WarpJITSvc|WarpJITSvc|M|S|*|85
wbengine|Block Level Backup Engine Service|M|S|*|95
WbioSrvc|Windows Biometric Service|M|S|w|90
Wcmsvc|Windows Connection Manager|A|R|*|100
wcncsvc|Windows Connect Now - Config Registrar|M|S|w|85
WdiServiceHost|Diagnostic Service Host|M|R|*|95
WdiSystemHost|Diagnostic System Host|M|R|*|95
WdNisSvc|Microsoft Defender Antivirus Network Inspection Service|M|R|*|100|NisSrv
WebClient|WebClient|M|S|w|90
Wecsvc|Windows Event Collector|M|S|*|95
WEPHOSTSVC|Windows Encryption Provider Host Service|M|S|*|90
wercplsupport|Problem Reports Control Panel Support|M|S|*|95
WerSvc|Windows Error Reporting Service|M|S|*|100
WFDSConMgrSvc|Wi-Fi Direct Services Connection Manager Service|M|S|w|80
WiaRpc|Still Image Acquisition Events|M|S|w|85
WinDefend|Microsoft Defender Antivirus Service|A|R|*|100|MsMpEng
WinHttpAutoProxySvc|WinHTTP Web Proxy Auto-Discovery Service|M|R|*|100
Winmgmt|Windows Management Instrumentation|A|R|*|100
WinRM|Windows Remote Management (WS-Management)|A|R|*|100
wisvc|Windows Insider Service|M|S|w|85
WlanSvc|WLAN AutoConfig|A|R|w|55
wlidsvc|Microsoft Account Sign-in Assistant|M|R|w|90
wlpasvc|Local Profile Assistant Service|M|S|w|80
WManSvc|Windows Management Service|M|S|*|85
wmiApSrv|WMI Performance Adapter|M|S|*|100
WMPNetworkSvc|Windows Media Player Network Sharing Service|M|S|w|80
workfolderssvc|Work Folders|M|S|w|85
WpcMonSvc|Parental Controls|M|S|w|80
WPDBusEnum|Portable Device Enumerator Service|M|S|*|95
WpnService|Windows Push Notifications System Service|A|R|*|100
wscsvc|Security Center|A|R|w|100
WSearch|Windows Search|A|R|w|100|SearchIndexer
WSearch|Windows Search|D|S|s|70
WSService|Windows Store Service (WSService)|M|S|s|60
wuauserv|Windows Update|M|R|*|100
WwanSvc|WWAN AutoConfig|M|S|w|75
XblAuthManager|Xbox Live Auth Manager|M|S|w|80
XblGameSave|Xbox Live Game Save|M|S|w|80
XboxGipSvc|Xbox Accessory Management Service|M|S|w|80
XboxNetApiSvc|Xbox Live Networking Service|M|S|w|80
AarSvc|Agent Activation Runtime|M|S|u|70
BcastDVRUserService|GameDVR and Broadcast User Service|M|S|u|70
BluetoothUserService|Bluetooth User Support Service|M|S|u|70
CaptureService|CaptureService|M|S|u|70
cbdhsvc|Clipboard User Service|M|R|u|85
CDPUserSvc|Connected Devices Platform User Service|A|R|u|90
ConsentUxUserSvc|ConsentUX User Service|M|S|u|70
CredentialEnrollmentManagerUserSvc|CredentialEnrollmentManagerUserSvc|M|S|u|70
DeviceAssociationBrokerSvc|DeviceAssociationBroker|M|S|u|70
DevicePickerUserSvc|DevicePicker|M|S|u|70
DevicesFlowUserSvc|DevicesFlow|M|S|u|70
MessagingService|MessagingService|M|S|u|60
OneSyncSvc|Sync Host|A|R|u|85
PimIndexMaintenanceSvc|Contact Data|M|S|u|70
PrintWorkflowUserSvc|PrintWorkflow|M|S|u|70
UdkUserSvc|Udk User Service|M|S|u|50
UnistoreSvc|User Data Storage|M|S|u|70
UserDataSvc|User Data Access|M|S|u|70
WpnUserService|Windows Push Notifications User Service|A|R|u|90
webthreatdefusersvc|Web Threat Defense User Service|A|R|u|50
VMTools|VMware Tools|A|R|vm|100|vmtoolsd
VGAuthService|VMware Alias Manager and Ticket Service|A|R|vm|100|VGAuthService
vm3dservice|VMware SVGA Helper Service|A|R|vm|90|vm3dservice
DellClientManagementService|Dell Client Management Service|A|R|dell|80|DellClientManagementService
DellTechHub|Dell TechHub|A|R|dell|60|Dell.TechHub
HPAppHelperCap|HP App Helper HSA Service|A|R|hp|80|HPAppHelperCap
HpTouchpointAnalyticsService|HP Analytics service|A|R|hp|60|TouchpointAnalyticsClientService
LenovoVantageService|Lenovo Vantage Service|A|R|lenovo|80|LenovoVantageService
ImControllerService|System Interface Foundation Service|A|R|lenovo|80|ImController.Service
igfxCUIService2.0.0.0|Intel(R) HD Graphics Control Panel Service|A|R|w|60|igfxCUIService
esifsvc|Intel(R) Dynamic Platform and Thermal Framework service|A|R|w|50|esif_uf
LMS|Intel(R) Management and Security Application Local Management Service|A|R|w|55|LMS
jhi_service|Intel(R) Dynamic Application Loader Host Interface Service|M|S|w|55
RtkAudioUniversalService|Realtek Audio Universal Service|A|R|w|60|RtkAudUService64
gupdate|Google Update Service (gupdate)|M|S|w|55
gupdatem|Google Update Service (gupdatem)|M|S|w|55
GoogleChromeElevationService|Google Chrome Elevation Service (GoogleChromeElevationService)|M|S|w|55
MozillaMaintenance|Mozilla Maintenance Service|M|S|w|25
AdobeARMservice|Adobe Acrobat Update Service|A|R|w|45|armsvc
MSSQLSERVER|SQL Server (MSSQLSERVER)|A|R|sql|100|sqlservr
SQLSERVERAGENT|SQL Server Agent (MSSQLSERVER)|A|R|sql|100|SQLAGENT
SQLBrowser|SQL Server Browser|D|S|sql|100
SQLWriter|SQL Server VSS Writer|A|R|sql|100|sqlwriter
SQLTELEMETRY|SQL Server CEIP service (MSSQLSERVER)|A|R|sql|90|sqlceip
MSSQLFDLauncher|SQL Full-text Filter Daemon Launcher (MSSQLSERVER)|M|R|sql|60|fdlauncher
W3SVC|World Wide Web Publishing Service|A|R|iis|100
WAS|Windows Process Activation Service|M|R|iis|100
AppHostSvc|Application Host Helper Service|A|R|iis|100
IISADMIN|IIS Admin Service|A|R|iis|50|inetinfo
WMSVC|Web Management Service|M|S|iis|60
NTDS|Active Directory Domain Services|A|R|dc|100
DNS|DNS Server|A|R|dc|100|dns
Kdc|Kerberos Key Distribution Center|A|R|dc|100
DFSR|DFS Replication|A|R|dc|100|dfsrs
IsmServ|Intersite Messaging|A|R|dc|100|ismserv
ADWS|Active Directory Web Services|A|R|dc|100|Microsoft.ActiveDirectory.WebServices
KPSSVC|KDC Proxy Server service (KPS)|M|S|dc|80
Dfs|DFS Namespace|A|R|file|100|dfssvc
SrmSvc|File Server Resource Manager|A|R|file|80
SrmReports|File Server Storage Reports Manager|M|S|file|80
LPDSVC|TCP/IP Print Server|A|R|print|50
VeeamBackupSvc|Veeam Backup Service|A|R|backup|100|Veeam.Backup.Service
VeeamDeploySvc|Veeam Installer Service|A|R|backup|100|VeeamDeploymentSvc
VeeamTransportSvc|Veeam Backup VSS Integration Service|A|R|backup|100|VeeamTransportSvc
`

func parseServiceTable(table string) []svcDef {
	var out []svcDef
	for _, line := range strings.Split(strings.TrimSpace(table), "\n") {
		f := strings.Split(line, "|")
		if len(f) < 6 {
			panic("winrmsim: service table: bad line " + line)
		}
		d := svcDef{name: f[0], display: f[1], running: f[3] == "R", scope: f[4]}
		switch f[2] {
		case "A":
			d.start = startAuto
		case "M":
			d.start = startManual
		default:
			d.start = startDisable
		}
		if _, err := fmt.Sscanf(f[5], "%d", &d.pct); err != nil {
			panic("winrmsim: service table: bad percent in " + line)
		}
		if len(f) > 6 {
			d.process = f[6]
		}
		out = append(out, d)
	}
	return out
}

// svcSlot is one service of one host: an index into serviceCatalog and
// its current state, 4 bytes so a host's list stays small.
type svcSlot struct {
	def      uint16
	instance bool // the per-user instance (<name>_<suffix>) of a "u" service
	running  bool
	failing  bool // an Automatic service that does not start at boot
}

// procEntry is one running process.
type procEntry struct {
	name string
	pid  int
	sess int    // session id; 0 for services
	svc  string // the service it is, if any (stopping it ends the process)
	user bool   // belongs to the interactive user (logoff ends it)
	crit bool   // a critical system process: Stop-Process is denied
}

// regValue is one value in a host's virtual registry.
type regValue struct {
	path, name, typ, value string
}

// vfile is one file on a host's virtual disk.
type vfile struct {
	path string // as first written
	data []byte
	at   time.Time
}

// hostState is what actions change on a host: services, processes,
// sessions, the RDP flag, the virtual registry and disk. It is built from
// the host's seed the first time something asks (most hosts of a big
// fleet never are) and guarded by its own mutex, a leaf lock: nothing
// else is locked while it is held.
type hostState struct {
	mu       sync.Mutex
	built    bool // the small part: RDP, pending reboot, sessions, temp
	svcBuilt bool // the services

	suffix   string // per-user service suffix, e.g. 3f2a1
	services []svcSlot
	rdp      bool
	pending  time.Time // pending reboot since; zero if none

	boots    int // reboots since the fleet started: seeds process ids
	procs    []procEntry
	nextPID  int
	sessions int  // interactive sessions
	locked   bool // the sessions are locked (disconnected)
	logons   int  // logons since start: seeds the user's processes

	tempFiles int
	tempBytes int64

	registry map[string]regValue // key: lower(path)+"\\"+lower(name)
	files    map[string]*vfile   // key: lower(path)

	// power is the machine's power state as actions left it.
	power powerState
}

// powerState says whether a host is up, restarting or switched off.
type powerState int

const (
	powerOn        powerState = iota
	powerRebooting            // going down, or down, after action_reboot
	powerStopping             // going down after action_shutdown
	powerOff                  // shut down; a Wake-on-LAN packet boots it
	powerBooting              // woken, booting
)

func (p powerState) String() string {
	switch p {
	case powerRebooting:
		return "rebooting"
	case powerStopping:
		return "shutting-down"
	case powerOff:
		return "off"
	case powerBooting:
		return "booting"
	}
	return "on"
}

// hostRole reports whether h has the given server tag or vendor key.
func (h *host) hasScope(scope string) bool {
	switch scope {
	case "*", "u":
		return true
	case "w":
		return !h.server
	case "s":
		return h.server
	case "hv":
		return strings.HasPrefix(h.mac, "00:15:5D")
	case "vm":
		return strings.HasPrefix(h.mac, "00:50:56")
	case "dell":
		return strings.HasPrefix(h.mac, "00:14:22")
	case "hp":
		return strings.HasPrefix(h.mac, "3C:52:82")
	case "lenovo":
		return strings.HasPrefix(h.mac, "54:EE:75")
	}
	return h.server && slices.Contains(h.tags, scope)
}

// stateLocked returns the host's state, building its small part (RDP,
// pending reboot, sessions, temp files) on first use; the services are
// built by servicesLocked. h.hs().mu must be held.
func (h *host) stateLocked() *hostState {
	st := h.hs()
	if st.built {
		return st
	}
	st.built = true
	rng := rand.New(rand.NewPCG(h.seed, 0xba5e57a7e))
	if h.server {
		st.rdp = rng.IntN(100) < 85
	} else {
		st.rdp = rng.IntN(100) < 30
	}
	if rng.IntN(100) < 3 {
		age := time.Duration(rng.Int64N(int64(h.prof.uptime)))
		st.pending = time.Now().Add(-age).Truncate(time.Second)
	}
	if h.server {
		if rng.IntN(100) < 20 {
			st.sessions = 1
		}
	} else if rng.IntN(100) < 80 {
		st.sessions = 1
	}
	st.tempFiles = 40 + rng.IntN(2400)
	st.tempBytes = int64(st.tempFiles) * int64(20_000+rng.IntN(400_000))
	return st
}

// servicesLocked returns the host's state with its services built (a
// few hundred slots of 6 bytes, made the first time a script or an
// operator asks). h.hs().mu must be held.
func (h *host) servicesLocked() *hostState {
	st := h.stateLocked()
	if st.svcBuilt {
		return st
	}
	st.svcBuilt = true
	rng := rand.New(rand.NewPCG(h.seed, 0x5e7c1ce5))
	st.suffix = fmt.Sprintf("%05x", rng.Uint32()&0xFFFFF)
	hyperV := h.hasScope("hv")
	for i, d := range serviceCatalog {
		pct := d.pct
		if !h.server && pct < 100 {
			pct = pct * 55 / 100 // workstation images are trimmed more
		}
		if !h.hasScope(d.scope) || rng.IntN(100) >= pct {
			continue
		}
		running := d.running
		if hyperV && strings.HasPrefix(d.name, "vmic") && d.name != "vmicrdv" && d.name != "vmicvmsession" && d.name != "vmicguestinterface" {
			running = true
		}
		if d.scope == "u" {
			// The template never runs; the instance runs while a user is
			// logged on.
			running = false
			st.services = append(st.services, svcSlot{def: uint16(i), instance: true, running: st.sessions > 0})
		}
		st.services = append(st.services, svcSlot{def: uint16(i), running: running})
	}
	slices.SortFunc(st.services, func(a, b svcSlot) int {
		return strings.Compare(strings.ToLower(st.nameOf(a)), strings.ToLower(st.nameOf(b)))
	})
	// About one host in eight has an Automatic service or two that did not
	// start (or crashed): what "watched service stopped" alerts are for.
	if rng.IntN(100) < 12 {
		candidates := []string{"Spooler", "W32Time", "BITS", "wuauserv", "WSearch", "SQLSERVERAGENT", "DiagTrack", "AdobeARMservice", "VMTools", "Dnscache", "TrkWks", "UsoSvc"}
		for range 1 + rng.IntN(2) {
			name := candidates[rng.IntN(len(candidates))]
			if i := st.serviceIndex(name); i >= 0 && startOf(st.services[i]) == startAuto {
				st.services[i].running = false
				st.services[i].failing = true
			}
		}
	}
	return st
}

// serviceStates returns the state (Running, Stopped, or "" when the host
// has no such service) of each named service, without copying the list.
func (h *host) serviceStates(names []string) []string {
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	st := h.servicesLocked()
	out := make([]string, len(names))
	for i, n := range names {
		if j := st.serviceIndex(n); j >= 0 {
			out[i] = svcStopped
			if st.services[j].running {
				out[i] = svcRunning
			}
		}
	}
	return out
}

// nameOf is a service slot's service name.
func (st *hostState) nameOf(s svcSlot) string {
	d := &serviceCatalog[s.def]
	if s.instance {
		return d.name + "_" + st.suffix
	}
	return d.name
}

// infoOf is a service slot as ServiceInfo.
func (st *hostState) infoOf(s svcSlot) ServiceInfo {
	d := &serviceCatalog[s.def]
	// Per-user services (a template that never runs, an instance that
	// runs while its user is around) are not started at boot by the SCM:
	// startOf calls them Manual.
	si := ServiceInfo{Name: d.name, DisplayName: d.display, State: svcStopped, StartType: startOf(s)}
	if s.instance {
		si.Name += "_" + st.suffix
		si.DisplayName += "_" + st.suffix
	}
	if s.running {
		si.State = svcRunning
	}
	return si
}

// startOf is a service slot's start type.
func startOf(s svcSlot) string {
	d := &serviceCatalog[s.def]
	if d.scope == "u" {
		return startManual
	}
	return d.start
}

// serviceIndex finds a service by name, case-insensitively; -1 if none.
func (st *hostState) serviceIndex(name string) int {
	for i, s := range st.services {
		if strings.EqualFold(st.nameOf(s), name) {
			return i
		}
	}
	return -1
}

// services returns the host's services with their current states, sorted
// by name.
func (h *host) services() []ServiceInfo {
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	st := h.servicesLocked()
	out := make([]ServiceInfo, len(st.services))
	for i, s := range st.services {
		out[i] = st.infoOf(s)
	}
	return out
}

// rdpEnabled reports whether Remote Desktop connections are allowed.
func (h *host) rdpEnabled() bool {
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	return h.stateLocked().rdp
}

// pendingRebootSince is when the host started waiting for a reboot (an
// update, or a registry_set of a well-known key); zero if it is not.
func (h *host) pendingRebootSince() time.Time {
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	return h.stateLocked().pending
}

// rebootState applies a restart to the host's state: processes start
// afresh, Automatic services start, sessions end, a pending reboot is
// done. Stopped Manual services stay stopped. The virtual disk and
// registry persist (minus the pending-reboot markers).
func (h *host) rebootState() {
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	st := h.stateLocked() // built now, so a seeded pending reboot clears too
	st.boots++
	st.procs = nil
	st.sessions = 0
	st.locked = false
	st.pending = time.Time{}
	for i := range st.services {
		s := &st.services[i]
		if startOf(*s) == startAuto && !s.failing {
			s.running = true
		}
	}
	for k := range st.registry {
		if isPendingRebootKey(st.registry[k].path, st.registry[k].name) {
			delete(st.registry, k)
		}
	}
}

// isPendingRebootKey reports the registry values Windows (and every RMM
// pending-reboot check) reads as "a reboot is pending".
func isPendingRebootKey(path, name string) bool {
	p := strings.ToLower(strings.TrimRight(path, `\`))
	p = strings.Replace(p, "hkey_local_machine", "hklm:", 1)
	p = strings.Replace(p, "hklm:\\", "hklm:", 1)
	p = strings.Replace(p, "hklm:", "hklm:\\", 1)
	switch {
	case strings.HasSuffix(p, `\microsoft\windows\currentversion\component based servicing\rebootpending`),
		strings.HasSuffix(p, `\microsoft\windows\currentversion\windowsupdate\auto update\rebootrequired`):
		return true
	case strings.HasSuffix(p, `\currentcontrolset\control\session manager`):
		return strings.EqualFold(name, "PendingFileRenameOperations")
	}
	return false
}

// Processes: a host's process list is built from its seed and boot count
// the first time something lists or kills processes after a boot, from
// the services then running and the sessions then open.

// sysProc is a process every Windows host runs.
type sysProc struct {
	name string
	sess int
	crit bool
}

var (
	bootProcs = []sysProc{
		{"Registry", 0, true}, {"smss", 0, true}, {"csrss", 0, true}, {"wininit", 0, true},
		{"csrss", 1, true}, {"winlogon", 1, true}, {"services", 0, true}, {"lsass", 0, true},
		{"Memory Compression", 0, true}, {"fontdrvhost", 0, false}, {"fontdrvhost", 1, false},
		{"dwm", 1, true}, {"WmiPrvSE", 0, false}, {"WmiPrvSE", 0, false}, {"dllhost", 0, false},
		{"conhost", 0, false}, {"MpDefenderCoreService", 0, false},
	}
	// userProcs run while a user is logged on; pct is the chance a host's
	// user runs it, n how many instances.
	userProcs = []struct {
		name   string
		ws     bool // workstations only
		pct, n int
	}{
		{"explorer", false, 100, 1}, {"sihost", false, 100, 1}, {"taskhostw", false, 100, 1},
		{"RuntimeBroker", false, 100, 3}, {"ctfmon", false, 100, 1}, {"ShellExperienceHost", true, 100, 1},
		{"StartMenuExperienceHost", false, 100, 1}, {"SearchHost", true, 100, 1}, {"TextInputHost", false, 100, 1},
		{"SecurityHealthSystray", true, 100, 1}, {"OneDrive", true, 70, 1}, {"msedge", false, 75, 7},
		{"chrome", true, 40, 9}, {"ms-teams", true, 50, 2}, {"OUTLOOK", true, 60, 1}, {"WINWORD", true, 30, 1},
		{"EXCEL", true, 30, 1}, {"notepad", false, 35, 1}, {"mmc", false, 15, 1}, {"ServerManager", false, 15, 1},
		{"audiodg", true, 60, 1}, {"conhost", false, 100, 1},
	}
)

// newPIDLocked hands out the next process id: a multiple of 4, rising by
// a hashed step as Windows' do.
func (st *hostState) newPIDLocked() int {
	st.nextPID += 4 + 4*int(splitmix(uint64(st.nextPID))%40)
	if st.nextPID > 65000 {
		st.nextPID = 1000 + st.nextPID%4000/4*4
	}
	return st.nextPID
}

// processesLocked returns the current processes sorted by name and id,
// building them after a boot. h.hs().mu must be held.
func (h *host) processesLocked() []procEntry {
	st := h.servicesLocked()
	if st.procs != nil {
		return st.procs
	}
	rng := rand.New(rand.NewPCG(h.seed^uint64(st.boots)*0x9e3779b97f4a7c15, 0x70c5))
	st.nextPID = 88 + 4*rng.IntN(40)
	st.procs = append(st.procs, procEntry{name: "Idle", pid: 0, crit: true}, procEntry{name: "System", pid: 4, crit: true})
	for _, p := range bootProcs {
		st.procs = append(st.procs, procEntry{name: p.name, pid: st.newPIDLocked(), sess: p.sess, crit: p.crit})
	}
	n := 70 + rng.IntN(25)
	if h.server {
		n = 55 + rng.IntN(25)
	}
	for range n {
		st.procs = append(st.procs, procEntry{name: "svchost", pid: st.newPIDLocked(), crit: true})
	}
	for _, s := range st.services {
		if d := &serviceCatalog[s.def]; s.running && d.process != "" {
			st.procs = append(st.procs, procEntry{name: d.process, pid: st.newPIDLocked(), svc: d.name})
		}
	}
	if st.sessions > 0 {
		h.addUserProcsLocked(rng)
	} else if !h.server {
		st.procs = append(st.procs, procEntry{name: "LogonUI", pid: st.newPIDLocked(), sess: 1, crit: true})
	}
	sortProcs(st.procs)
	return st.procs
}

// addUserProcsLocked starts what a logged-on user runs.
func (h *host) addUserProcsLocked(rng *rand.Rand) {
	st := h.hs()
	sess := 1
	if h.server {
		sess = 2 // an RDP session; the console stays at the logon screen
	}
	for _, u := range userProcs {
		if (u.ws && h.server) || rng.IntN(100) >= u.pct {
			continue
		}
		k := u.n
		if k > 1 {
			k = 1 + rng.IntN(k)
		}
		for range k {
			st.procs = append(st.procs, procEntry{name: u.name, pid: st.newPIDLocked(), sess: sess, user: true})
		}
	}
}

func sortProcs(ps []procEntry) {
	slices.SortFunc(ps, func(a, b procEntry) int {
		if c := strings.Compare(strings.ToLower(a.name), strings.ToLower(b.name)); c != 0 {
			return c
		}
		return a.pid - b.pid
	})
}

// killLocked ends one process; a service's own process stops the service.
func (h *host) killLocked(pid int) {
	st := h.hs()
	i := slices.IndexFunc(st.procs, func(p procEntry) bool { return p.pid == pid })
	if i < 0 {
		return
	}
	svc := st.procs[i].svc
	st.procs = slices.Delete(st.procs, i, i+1)
	if svc != "" {
		if j := st.serviceIndex(svc); j >= 0 {
			st.services[j].running = false
		}
	}
}

// setServiceLocked starts or stops service i, with its process.
func (h *host) setServiceLocked(i int, running bool) {
	st := h.hs()
	s := &st.services[i]
	if s.running == running {
		return
	}
	s.running = running
	if running {
		s.failing = false
	}
	d := &serviceCatalog[s.def]
	if d.process == "" || st.procs == nil || s.instance {
		return
	}
	if running {
		st.procs = append(st.procs, procEntry{name: d.process, pid: st.newPIDLocked(), svc: d.name})
		sortProcs(st.procs)
		return
	}
	st.procs = slices.DeleteFunc(st.procs, func(p procEntry) bool { return p.svc == d.name })
}

// setSessionsLocked logs users on (n > 0, when nobody is) or off (n == 0):
// their processes and per-user services start or end.
func (h *host) setSessionsLocked(n int) {
	st := h.stateLocked()
	was := st.sessions
	st.sessions = n
	if n == 0 {
		st.locked = false
	}
	if (was == 0) == (n == 0) {
		return
	}
	for i := range st.services {
		if st.services[i].instance {
			st.services[i].running = n > 0
		}
	}
	if st.procs == nil {
		return // built from the sessions when first listed
	}
	if n == 0 {
		st.procs = slices.DeleteFunc(st.procs, func(p procEntry) bool { return p.user })
		if !h.server {
			st.procs = append(st.procs, procEntry{name: "LogonUI", pid: st.newPIDLocked(), sess: 1, crit: true})
		}
	} else {
		st.logons++
		st.procs = slices.DeleteFunc(st.procs, func(p procEntry) bool { return p.name == "LogonUI" })
		h.addUserProcsLocked(rand.New(rand.NewPCG(h.seed, uint64(st.logons)<<8|0x10)))
	}
	sortProcs(st.procs)
}

// unstoppable services: the SCM refuses to stop them (and WinRM is what
// every session runs on: the simulator restarts it but never stops it).
var unstoppable = []string{"RpcSs", "DcomLaunch", "RpcEptMapper", "LSM", "Power", "BrokerInfrastructure", "SamSs", "PlugPlay", "WinRM"}

// service looks one service up by name, case-insensitively.
func (h *host) service(name string) (ServiceInfo, bool) {
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	st := h.servicesLocked()
	i := st.serviceIndex(name)
	if i < 0 {
		return ServiceInfo{}, false
	}
	return st.infoOf(st.services[i]), true
}

// serviceOp starts, stops or restarts a service the way Start-Service,
// Stop-Service -Force and Restart-Service -Force do; the error is the
// cmdlet's message.
func (h *host) serviceOp(name, op string) (ServiceInfo, error) {
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	st := h.servicesLocked()
	i := st.serviceIndex(name)
	if i < 0 {
		return ServiceInfo{}, fmt.Errorf("Cannot find any service with service name '%s'.", name)
	}
	info := st.infoOf(st.services[i])
	if op != "start" && slices.Contains(unstoppable, info.Name) && !(op == "restart" && info.Name == "WinRM") {
		return info, fmt.Errorf("Service '%s (%s)' cannot be stopped due to the following error: Cannot stop %s service on computer '.'.", info.DisplayName, info.Name, info.Name)
	}
	if op != "stop" && info.StartType == startDisable {
		if op == "restart" {
			h.setServiceLocked(i, false)
		}
		return info, fmt.Errorf("Service '%s (%s)' cannot be started due to the following error: Cannot start service %s on computer '.'.", info.DisplayName, info.Name, info.Name)
	}
	switch op {
	case "start":
		h.setServiceLocked(i, true)
	case "stop":
		h.setServiceLocked(i, false)
	case "restart":
		h.setServiceLocked(i, false)
		h.setServiceLocked(i, true)
	}
	return st.infoOf(st.services[i]), nil
}

// stopProcesses ends every process of a name (without .exe), or the one
// with pid when pid >= 0, as Stop-Process -Force does: nothing is stopped
// if one of them is a protected system process. It returns the pids.
func (h *host) stopProcesses(name string, pid int) ([]int, error) {
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	procs := h.processesLocked()
	var match []procEntry
	base := strings.TrimSuffix(strings.TrimSuffix(name, ".exe"), ".EXE")
	for _, p := range procs {
		if pid >= 0 && p.pid == pid || pid < 0 && base != "" && strings.EqualFold(p.name, base) {
			match = append(match, p)
		}
	}
	if len(match) == 0 {
		if pid >= 0 {
			return nil, fmt.Errorf("Cannot find a process with the process identifier %d.", pid)
		}
		return nil, fmt.Errorf("Cannot find a process with the name \"%s\".", name)
	}
	for _, p := range match {
		if p.crit {
			return nil, fmt.Errorf("Cannot stop process \"%s (%d)\" because of the following error: Access is denied", p.name, p.pid)
		}
	}
	pids := make([]int, len(match))
	for i, p := range match {
		pids[i] = p.pid
		h.killLocked(p.pid)
	}
	return pids, nil
}

// hs returns the host's state holder, allocating it on first use so that
// a big fleet pays one pointer per host until actions touch it.
func (h *host) hs() *hostState {
	if st := h.st.Load(); st != nil {
		return st
	}
	h.st.CompareAndSwap(nil, &hostState{})
	return h.st.Load()
}
