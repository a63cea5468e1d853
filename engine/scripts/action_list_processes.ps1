# rmm:script=action_list_processes v2
# Lists the running processes: name and pid. No params. Windows
# PowerShell 5.1.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
try {
    $list = @(Get-Process | Sort-Object 'Name', 'Id' | ForEach-Object { @{ name = $_.ProcessName; pid = $_.Id } })
    $result.message = '{0} processes' -f $list.Count
    $result.data = @{ processes = $list }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
# No exit: the document says how it went (an exit in the resident loop
# would lose it; see engine/winrm/loop.ps1).
ConvertTo-Json -InputObject $result -Compress -Depth 6
