# rmm:script=action_reboot v2
# Restarts the host. Params: delay_s (seconds, default 0). shutdown.exe
# schedules the restart with the system (the WinRM shell may go away
# first), at least 2 seconds out so this answer reaches the console; it is
# Restart-Computer -Force with a delay. Windows PowerShell 5.1.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
# Native programs run under $ErrorActionPreference = 'Continue' (under
# Stop, Windows PowerShell 5.1 turns a line on a redirected stderr into a
# terminating error) and with input piped to them, so none reads the
# stdin of rmm's resident loop (a prompt gets $Answer and then the end of
# input). stderr lines are kept, after stdout's.
function Invoke-Native([string]$FilePath, [string[]]$ArgumentList, [string]$Answer = '') {
    $ErrorActionPreference = 'Continue'
    $lines = @($Answer | & $FilePath @ArgumentList 2>&1 | ForEach-Object { ([string]$_).TrimEnd() })
    [pscustomobject]@{ Code = $LASTEXITCODE; Lines = $lines }
}
try {
    $delay = 0
    if ($RmmParams.delay_s) { $delay = [int]$RmmParams.delay_s }
    if ($delay -lt 2) { $delay = 2 }
    $r = Invoke-Native 'shutdown.exe' @('/r', '/f', '/t', [string]$delay, '/d', 'p:0:0', '/c', 'Restart requested by rmm')
    if ($r.Code -ne 0) { throw ('shutdown.exe /r failed with exit code {0}: {1}' -f $r.Code, ($r.Lines -join ' ').Trim()) }
    $result.message = 'Restart scheduled'
    $result.data = @{ delay_s = $delay }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
# No exit: the document says how it went (an exit in the resident loop
# would lose it; see engine/winrm/loop.ps1).
ConvertTo-Json -InputObject $result -Compress -Depth 6
