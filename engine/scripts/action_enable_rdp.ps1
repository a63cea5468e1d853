# rmm:script=action_enable_rdp v1
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
ConvertTo-Json -InputObject $result -Compress -Depth 6
if (-not $result.ok) { exit 1 }
exit 0
