# rmm:script=action_logoff v1
# Logs off every user session (active and disconnected) found with quser,
# with logoff.exe. No params. No session is not an error. Windows
# PowerShell 5.1.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
try {
    $lines = & quser.exe 2>$null
    $ids = @()
    foreach ($l in @($lines | Select-Object -Skip 1)) {
        if ($l -match '^.(?<user>\S+)\s+(?:(?<session>\S+)\s+)?(?<id>\d+)\s+(?<state>\S+)') {
            $ids += [int]$Matches.id
        }
    }
    foreach ($id in $ids) {
        & logoff.exe $id 2>&1 | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "logoff $id failed with exit code $LASTEXITCODE" }
    }
    $result.message = 'Logged off {0} session(s)' -f $ids.Count
    $result.data = @{ sessions = $ids.Count }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
ConvertTo-Json -InputObject $result -Compress -Depth 6
if (-not $result.ok) { exit 1 }
exit 0
