# rmm:script=action_gpupdate v1
# Reapplies group policy: gpupdate /force, waiting up to 120 seconds. No
# params. The message is the tool's own line on success, its last line on
# failure. Windows PowerShell 5.1.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
try {
    $out = @(& gpupdate.exe /force /wait:120 2>&1 | ForEach-Object { ([string]$_).Trim() } | Where-Object { $_ })
    if ($LASTEXITCODE -ne 0) {
        $last = 'no output'
        if ($out.Count -gt 0) { $last = $out[-1] }
        throw ('gpupdate failed with exit code {0}: {1}' -f $LASTEXITCODE, $last)
    }
    $line = $out | Where-Object { $_ -like 'Computer Policy update*' } | Select-Object -First 1
    if (-not $line) { $line = 'Computer Policy update has completed successfully.' }
    $result.message = $line
    $result.data = @{ output = ($out -join "`n") }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
ConvertTo-Json -InputObject $result -Compress -Depth 6
if (-not $result.ok) { exit 1 }
exit 0
