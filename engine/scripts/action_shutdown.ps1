# rmm:script=action_shutdown v1
# Shuts the host down (power off). No params. shutdown.exe schedules it
# 2 seconds out so this answer reaches the console (Stop-Computer -Force
# would cut the WinRM connection first). Bring it back with Wake-on-LAN.
# Windows PowerShell 5.1.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
try {
    $out = & shutdown.exe /s /f /t 2 /d p:0:0 /c 'Shutdown requested by rmm' 2>&1
    if ($LASTEXITCODE -ne 0) { throw ("shutdown.exe /s failed with exit code {0}: {1}" -f $LASTEXITCODE, (($out | Out-String).Trim())) }
    $result.message = 'Shutdown scheduled'
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
ConvertTo-Json -InputObject $result -Compress -Depth 6
if (-not $result.ok) { exit 1 }
exit 0
