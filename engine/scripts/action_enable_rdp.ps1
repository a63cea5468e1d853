# rmm:script=action_enable_rdp v2
# Enables Remote Desktop: fDenyTSConnections = 0 under
# HKLM:\System\CurrentControlSet\Control\Terminal Server, and the
# "Remote Desktop" firewall rule group (named by its resource string, so
# it works on every display language) enabled. No params. Windows
# PowerShell 5.1.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
try {
    Set-ItemProperty -Path 'HKLM:\System\CurrentControlSet\Control\Terminal Server' -Name 'fDenyTSConnections' -Value 0 -Type DWord
    Enable-NetFirewallRule -Group '@FirewallAPI.dll,-28752'
    $deny = (Get-ItemProperty -Path 'HKLM:\System\CurrentControlSet\Control\Terminal Server' -Name 'fDenyTSConnections').fDenyTSConnections
    $result.message = 'RDP enabled'
    $result.data = @{ rdp_enabled = ($deny -eq 0) }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
# No exit: the document says how it went (an exit in the resident loop
# would lose it; see engine/winrm/loop.ps1).
ConvertTo-Json -InputObject $result -Compress -Depth 6
