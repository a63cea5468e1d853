# rmm:script=action_process_kill v2
# Stops processes by name (every process of that name, without .exe) or by
# pid. Params: name or pid; pattern ('true': name is a wildcard pattern)
# and matches (with pattern: the comma-separated process names the caller
# confirmed). Without pattern a name holding a wildcard character is
# refused: Get-Process -Name would stop every process it matches. With
# pattern and no matches nothing is stopped: the answer lists what the
# pattern matches here. With matches only the processes both matched and
# confirmed are stopped. Stop-Process -Force. Windows PowerShell 5.1.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
try {
    $preview = $false
    if ($RmmParams.pid) {
        $id = [int]$RmmParams.pid
        $procs = @(Get-Process -Id $id -ErrorAction SilentlyContinue)
        if ($procs.Count -eq 0) { throw ('Cannot find a process with the process identifier {0}.' -f $id) }
    } else {
        $name = [string]$RmmParams.name
        $pattern = [string]$RmmParams.pattern -eq 'true'
        if (-not $pattern -and $name -match '[*?\[\]]') {
            throw ("'{0}' holds a wildcard character (* ? [ ]); rmm acts on it as a pattern only with pattern=true" -f $name)
        }
        $procs = @(Get-Process -Name $name -ErrorAction SilentlyContinue)
        if (-not $pattern) {
            if ($procs.Count -eq 0) { throw ('Cannot find a process with the name "{0}".' -f $name) }
        } else {
            $names = @($procs | ForEach-Object { $_.Name } | Sort-Object -Unique)
            $confirmed = @(([string]$RmmParams.matches) -split ',' | ForEach-Object { $_.Trim() } | Where-Object { $_ })
            if ($confirmed.Count -eq 0) {
                $preview = $true
                $result.message = 'nothing was stopped: pattern {0} matches {1} process(es) named {2}' -f $name, $procs.Count, ($names -join ', ')
                $result.data = @{ preview = $true; matches = $names }
            } else {
                $procs = @($procs | Where-Object { $confirmed -contains $_.Name })
                if ($procs.Count -eq 0) {
                    throw ('none of the confirmed processes ({0}) matches {1} here now' -f ($confirmed -join ', '), $name)
                }
            }
        }
    }
    if (-not $preview) {
        $procs | Stop-Process -Force
        $result.message = 'Stopped {0} process(es)' -f $procs.Count
        $result.data = @{ stopped = $procs.Count; pids = @($procs | ForEach-Object { $_.Id }) }
    }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
# No exit: the document says how it went (an exit in the resident loop
# would lose it; see engine/winrm/loop.ps1).
ConvertTo-Json -InputObject $result -Compress -Depth 6
