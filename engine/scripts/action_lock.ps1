# rmm:script=action_lock v1
# Locks the interactive session. No params. A WinRM command runs in
# session 0, where rundll32 user32.dll,LockWorkStation would lock nothing,
# so the active console or RDP session found with quser is disconnected
# with tsdiscon, which leaves it locked (the user signs in again to
# resume). Windows PowerShell 5.1.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
try {
    $lines = & quser.exe 2>$null
    $active = @()
    foreach ($l in @($lines | Select-Object -Skip 1)) {
        if ($l -match '^.(?<user>\S+)\s+(?:(?<session>\S+)\s+)?(?<id>\d+)\s+(?<state>Active)\b') {
            $active += [int]$Matches.id
        }
    }
    if ($active.Count -eq 0) {
        $result.ok = $false
        $result.message = 'No interactive session'
    } else {
        foreach ($id in $active) {
            & tsdiscon.exe $id 2>&1 | Out-Null
            if ($LASTEXITCODE -ne 0) { throw "tsdiscon $id failed with exit code $LASTEXITCODE" }
        }
        $result.message = 'Workstation locked'
        $result.data = @{ sessions = $active.Count }
    }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
ConvertTo-Json -InputObject $result -Compress -Depth 6
if (-not $result.ok) { exit 1 }
exit 0
