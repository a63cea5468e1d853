# rmm:script=action_logoff v2
# Logs off every user session (connected and disconnected) that quser
# lists, with logoff.exe. No params. No session is not an error (quser
# then writes "No User exists for *" on stderr, in the display
# language). Sessions are read by their columns, whatever the language.
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
    $q = Invoke-Native 'quser.exe' @()
    $ids = @()
    foreach ($l in @($q.Lines | Select-Object -Skip 1)) {
        if ($l -match '^.(?<user>\S+)\s+(?:(?<session>\S+)\s+)?(?<id>\d+)\s+\S') {
            $ids += [int]$Matches.id
        }
    }
    foreach ($id in $ids) {
        $r = Invoke-Native 'logoff.exe' @([string]$id)
        if ($r.Code -ne 0) { throw ('logoff {0} failed with exit code {1}: {2}' -f $id, $r.Code, ($r.Lines -join ' ')) }
    }
    $result.message = 'Logged off {0} session(s)' -f $ids.Count
    $result.data = @{ sessions = $ids.Count }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
# No exit: the document says how it went (an exit in the resident loop
# would lose it; see engine/winrm/loop.ps1).
ConvertTo-Json -InputObject $result -Compress -Depth 6
