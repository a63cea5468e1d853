# rmm:script=action_list_processes v1
# Lists the running processes: name and pid. No params. Windows
# PowerShell 5.1.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
try {
    $list = @(Get-Process | Sort-Object Name, Id | ForEach-Object { @{ name = $_.ProcessName; pid = $_.Id } })
    $result.message = '{0} processes' -f $list.Count
    $result.data = @{ processes = $list }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
ConvertTo-Json -InputObject $result -Compress -Depth 6
if (-not $result.ok) { exit 1 }
exit 0
