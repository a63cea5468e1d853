# rmm:script=action_disable_rdp v2
# Disables Remote Desktop: fDenyTSConnections = 1 under
# HKLM:\System\CurrentControlSet\Control\Terminal Server, and the
# "Remote Desktop" firewall rule group (named by its resource string, so
# it works on every display language) disabled. No params. Windows
# PowerShell 5.1.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
try {
    Set-ItemProperty -Path 'HKLM:\System\CurrentControlSet\Control\Terminal Server' -Name 'fDenyTSConnections' -Value 1 -Type DWord
    Disable-NetFirewallRule -Group '@FirewallAPI.dll,-28752'
    $deny = (Get-ItemProperty -Path 'HKLM:\System\CurrentControlSet\Control\Terminal Server' -Name 'fDenyTSConnections').fDenyTSConnections
    $result.message = 'RDP disabled'
    $result.data = @{ rdp_enabled = ($deny -eq 0) }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
# No exit: the document says how it went (an exit in the resident loop
# would lose it; see engine/winrm/loop.ps1).
ConvertTo-Json -InputObject $result -Compress -Depth 6
