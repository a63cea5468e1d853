# rmm:script=action_lock v2
# Locks the interactive session. No params. A WinRM command runs in
# session 0, where rundll32 user32.dll,LockWorkStation would lock nothing,
# so every connected console or RDP session that quser lists is
# disconnected with tsdiscon, which leaves it locked (the user signs in
# again to resume). quser's words are in the display language (Active is
# Aktiv, Actif...), so a session is read by its columns: a connected one
# has a SESSIONNAME, a disconnected one has none. Windows PowerShell 5.1.
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
    $active = @()
    foreach ($l in @($q.Lines | Select-Object -Skip 1)) {
        if ($l -match '^.(?<user>\S+)\s+(?<session>\S+)\s+(?<id>\d+)\s+\S') {
            $active += [int]$Matches.id
        }
    }
    if ($active.Count -eq 0) {
        $result.ok = $false
        $result.message = 'No interactive session'
    } else {
        foreach ($id in $active) {
            $r = Invoke-Native 'tsdiscon.exe' @([string]$id)
            if ($r.Code -ne 0) { throw ('tsdiscon {0} failed with exit code {1}: {2}' -f $id, $r.Code, ($r.Lines -join ' ')) }
        }
        $result.message = 'Workstation locked'
        $result.data = @{ sessions = $active.Count }
    }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
# No exit: the document says how it went (an exit in the resident loop
# would lose it; see engine/winrm/loop.ps1).
ConvertTo-Json -InputObject $result -Compress -Depth 6
