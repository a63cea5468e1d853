# rmm:script=action_reboot v1
# Restarts the host. Params: delay_s (seconds, default 0). shutdown.exe
# schedules the restart with the system (the WinRM shell may go away
# first), at least 2 seconds out so this answer reaches the console; it is
# Restart-Computer -Force with a delay. Windows PowerShell 5.1.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
try {
    $delay = 0
    if ($RmmParams.delay_s) { $delay = [int]$RmmParams.delay_s }
    $delay = [Math]::Max($delay, 2)
    $out = & shutdown.exe /r /f /t $delay /d p:0:0 /c 'Restart requested by rmm' 2>&1
    if ($LASTEXITCODE -ne 0) { throw ("shutdown.exe /r failed with exit code {0}: {1}" -f $LASTEXITCODE, (($out | Out-String).Trim())) }
    $result.message = 'Restart scheduled'
    $result.data = @{ delay_s = $delay }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
ConvertTo-Json -InputObject $result -Compress -Depth 6
if (-not $result.ok) { exit 1 }
exit 0
