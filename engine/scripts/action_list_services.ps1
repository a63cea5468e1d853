# rmm:script=action_list_services v2
# Lists the services: name, display name, state and start type. No
# params. Windows PowerShell 5.1. StartType needs .NET 4.6.1; where WMF
# 5.1 runs on an older .NET (2012 R2, 2008 R2 with 4.5.2) it is empty.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
try {
    $list = @(Get-Service | Sort-Object Name | ForEach-Object {
        @{ name = $_.Name; display_name = $_.DisplayName; state = [string]$_.Status; start_type = [string]$_.StartType }
    })
    $result.message = '{0} services' -f $list.Count
    $result.data = @{ services = $list }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
# No exit: the document says how it went (an exit in the resident loop
# would lose it; see engine/winrm/loop.ps1).
ConvertTo-Json -InputObject $result -Compress -Depth 6
