# rmm:script=action_service_control v2
# Starts, stops or restarts a service. Params: name (the service name),
# op (start, stop or restart). Dependent services are stopped with it
# (-Force). Windows PowerShell 5.1.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
try {
    $name = [string]$RmmParams.name
    $op = [string]$RmmParams.op
    $svc = Get-Service -Name $name
    switch ($op) {
        'start'   { Start-Service -InputObject $svc; $done = 'started' }
        'stop'    { Stop-Service -InputObject $svc -Force; $done = 'stopped' }
        'restart' { Restart-Service -InputObject $svc -Force; $done = 'restarted' }
        default   { throw "op '$op' is not one of start, stop, restart" }
    }
    $svc = Get-Service -Name $name
    $result.message = '{0} {1}' -f $svc.Name, $done
    $result.data = @{ name = $svc.Name; state = [string]$svc.Status }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
# No exit: the document says how it went (an exit in the resident loop
# would lose it; see engine/winrm/loop.ps1).
ConvertTo-Json -InputObject $result -Compress -Depth 6
