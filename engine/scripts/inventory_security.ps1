# rmm:script=inventory_security v1
# Prints one JSON document: Defender status, firewall profiles, BitLocker
# volumes, TPM, local Administrators members, pending reboot and the last
# update installed. Windows PowerShell 5.1. A cmdlet or module the host
# lacks (Defender on Server 2016 without the feature, BitLocker not
# installed, no TPM) reports that part as {"unavailable":"reason"}; it
# does not fail the document.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
function Get-Part([string]$Command, [scriptblock]$Block) {
    if ($Command -and -not (Get-Command -Name $Command -ErrorAction SilentlyContinue)) {
        return [pscustomobject]@{ unavailable = "$Command is not available on this host" }
    }
    try { & $Block } catch { [pscustomobject]@{ unavailable = $_.Exception.Message } }
}
$reasons = @()
if (Test-Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending') { $reasons += 'component_servicing' }
if (Test-Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired') { $reasons += 'windows_update' }
$sm = Get-ItemProperty -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager' -Name PendingFileRenameOperations -ErrorAction SilentlyContinue
if ($sm -and $sm.PendingFileRenameOperations) { $reasons += 'file_rename' }
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$fixes = @(Get-CimInstance -ClassName Win32_QuickFixEngineering | ForEach-Object {
    if ($_.InstalledOn) { try { [datetime]::Parse($_.InstalledOn, [Globalization.CultureInfo]::InvariantCulture) } catch { } }
} | Sort-Object -Descending)
$lastUpdate = $null
if ($fixes.Count -gt 0) { $lastUpdate = $fixes[0] }
# A pending reboot has no timestamp of its own: the newest update installed
# since the last boot is the best estimate of when it became pending.
$since = $null
if ($reasons.Count -gt 0 -and $lastUpdate -and $lastUpdate -gt $os.LastBootUpTime) { $since = $lastUpdate }
[pscustomobject]@{
    defender = Get-Part 'Get-MpComputerStatus' { Get-MpComputerStatus | ForEach-Object {
        [pscustomobject]@{
            antivirus_enabled      = $_.AntivirusEnabled
            real_time_protection   = $_.RealTimeProtectionEnabled
            signature_version      = $_.AntivirusSignatureVersion
            signature_last_updated = $_.AntivirusSignatureLastUpdated
            engine_version         = $_.AMEngineVersion
            service_enabled        = $_.AMServiceEnabled
        } } }
    firewall = Get-Part 'Get-NetFirewallProfile' { @(Get-NetFirewallProfile | ForEach-Object {
        [pscustomobject]@{
            name    = $_.Name
            enabled = $_.Enabled
            inbound = $_.DefaultInboundAction
        } }) }
    bitlocker = Get-Part 'Get-BitLockerVolume' { @(Get-BitLockerVolume | ForEach-Object {
        [pscustomobject]@{
            mount_point       = $_.MountPoint
            protection_status = $_.ProtectionStatus
            volume_status     = $_.VolumeStatus
            encryption_pct    = $_.EncryptionPercentage
            method            = $_.EncryptionMethod
        } }) }
    tpm = Get-Part 'Get-Tpm' { Get-Tpm | ForEach-Object {
        [pscustomobject]@{
            present      = $_.TpmPresent
            ready        = $_.TpmReady
            enabled      = $_.TpmEnabled
            manufacturer = $_.ManufacturerIdTxt
            version      = $_.ManufacturerVersion
        } } }
    administrators = Get-Part 'Get-LocalGroupMember' { @(Get-LocalGroupMember -SID 'S-1-5-32-544' | ForEach-Object {
        [pscustomobject]@{
            name   = $_.Name
            class  = $_.ObjectClass
            source = $_.PrincipalSource
        } }) }
    pending_reboot = [pscustomobject]@{
        pending = ($reasons.Count -gt 0)
        reasons = $reasons
        since   = $since
    }
    last_update_installed = $lastUpdate
} | ConvertTo-Json -Compress -Depth 4
