# rmm:script=action_process_kill v2
# Stops processes by name (every process of that name, without .exe) or by
# pid. Params: name or pid. Stop-Process -Force. Windows PowerShell 5.1.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
try {
    if ($RmmParams.pid) {
        $id = [int]$RmmParams.pid
        $procs = @(Get-Process -Id $id -ErrorAction SilentlyContinue)
        if ($procs.Count -eq 0) { throw ('Cannot find a process with the process identifier {0}.' -f $id) }
    } else {
        $name = [string]$RmmParams.name
        $procs = @(Get-Process -Name $name -ErrorAction SilentlyContinue)
        if ($procs.Count -eq 0) { throw ('Cannot find a process with the name "{0}".' -f $name) }
    }
    $procs | Stop-Process -Force
    $result.message = 'Stopped {0} process(es)' -f $procs.Count
    $result.data = @{ stopped = $procs.Count; pids = @($procs | ForEach-Object { $_.Id }) }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
# No exit: the document says how it went (an exit in the resident loop
# would lose it; see engine/winrm/loop.ps1).
ConvertTo-Json -InputObject $result -Compress -Depth 6
