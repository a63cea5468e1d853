package winrmsim

// The services every simulated host has, by release: a table of what
// Windows ships (name, display name, start mode, state), read once.

import (
	"fmt"
	"strings"
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
