# rmm:script=action_shutdown v2
# Shuts the host down (power off). No params. shutdown.exe schedules it
# 2 seconds out so this answer reaches the console (Stop-Computer -Force
# would cut the WinRM connection first). Bring it back with Wake-on-LAN.
# Windows PowerShell 5.1.
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
    $r = Invoke-Native 'shutdown.exe' @('/s', '/f', '/t', '2', '/d', 'p:0:0', '/c', 'Shutdown requested by rmm')
    if ($r.Code -ne 0) { throw ('shutdown.exe /s failed with exit code {0}: {1}' -f $r.Code, ($r.Lines -join ' ').Trim()) }
    $result.message = 'Shutdown scheduled'
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
# No exit: the document says how it went (an exit in the resident loop
# would lose it; see engine/winrm/loop.ps1).
ConvertTo-Json -InputObject $result -Compress -Depth 6
