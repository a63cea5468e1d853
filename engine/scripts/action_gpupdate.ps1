# rmm:script=action_gpupdate v2
# Reapplies group policy: gpupdate /force, waiting up to 120 seconds. No
# params. gpupdate asks "OK to log off? (Y/N)" when a policy needs a
# logon: it is answered N. The message is gpupdate's lines after its
# first ("Updating policy..."), in the host's display language; on failure
# its last line. Windows PowerShell 5.1.
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
    $g = Invoke-Native 'gpupdate.exe' @('/force', '/wait:120') 'N'
    $out = @($g.Lines | ForEach-Object { $_.Trim() } | Where-Object { $_ })
    if ($g.Code -ne 0) {
        $last = 'no output'
        if ($out.Count -gt 0) { $last = $out[-1] }
        throw ('gpupdate failed with exit code {0}: {1}' -f $g.Code, $last)
    }
    $line = @($out | Select-Object -Skip 1) -join ' '
    if (-not $line) { $line = 'Group policy updated' }
    $result.message = $line
    $result.data = @{ output = ($out -join "`n") }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
# No exit: the document says how it went (an exit in the resident loop
# would lose it; see engine/winrm/loop.ps1).
ConvertTo-Json -InputObject $result -Compress -Depth 6
