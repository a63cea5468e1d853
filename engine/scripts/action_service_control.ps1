# rmm:script=action_service_control v2
# Starts, stops or restarts services. Params: name (a service name), op
# (start, stop or restart), pattern ('true': name is a wildcard pattern)
# and matches (with pattern: the comma-separated service names the caller
# confirmed). Without pattern a name holding a wildcard character is
# refused: Get-Service -Name would act on every service it matches. With
# pattern and no matches nothing changes: the answer lists what the
# pattern matches here. With matches only the services both matched and
# confirmed are changed. Dependent services are stopped with it (-Force).
# Windows PowerShell 5.1.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
try {
    $name = [string]$RmmParams.name
    $op = [string]$RmmParams.op
    $pattern = [string]$RmmParams.pattern -eq 'true'
    if (-not $pattern -and $name -match '[*?\[\]]') {
        throw ("'{0}' holds a wildcard character (* ? [ ]); rmm acts on it as a pattern only with pattern=true" -f $name)
    }
    $preview = $false
    if (-not $pattern) {
        $svcs = @(Get-Service -Name $name)
    } else {
        $found = @(Get-Service -Name $name -ErrorAction SilentlyContinue | Sort-Object Name)
        $names = @($found | ForEach-Object { $_.Name })
        $confirmed = @(([string]$RmmParams.matches) -split ',' | ForEach-Object { $_.Trim() } | Where-Object { $_ })
        if ($confirmed.Count -eq 0) {
            $preview = $true
            $svcs = @()
            $result.message = 'nothing was changed: pattern {0} matches {1} service(s): {2}' -f $name, $names.Count, ($names -join ', ')
            $result.data = @{ preview = $true; matches = $names }
        } else {
            $svcs = @($found | Where-Object { $confirmed -contains $_.Name })
            if ($svcs.Count -eq 0) {
                throw ('none of the confirmed services ({0}) matches {1} here now' -f ($confirmed -join ', '), $name)
            }
        }
    }
    if ($op -notin 'start', 'stop', 'restart') { throw "op '$op' is not one of start, stop, restart" }
    foreach ($svc in $svcs) {
        switch ($op) {
            'start'   { Start-Service -InputObject $svc; $done = 'started' }
            'stop'    { Stop-Service -InputObject $svc -Force; $done = 'stopped' }
            'restart' { Restart-Service -InputObject $svc -Force; $done = 'restarted' }
        }
    }
    $now = @($svcs | ForEach-Object { Get-Service -Name $_.Name })
    if ($preview) {
        # the answer is the list of matches, set above
    } elseif (-not $pattern) {
        $result.message = '{0} {1}' -f $now[0].Name, $done
        $result.data = @{ name = $now[0].Name; state = [string]$now[0].Status }
    } else {
        $left = @($names | Where-Object { $confirmed -notcontains $_ })
        $result.message = '{0} service(s) {1}: {2}' -f $now.Count, $done, (($now | ForEach-Object { $_.Name }) -join ', ')
        if ($left.Count -gt 0) { $result.message += '; left alone (not confirmed): ' + ($left -join ', ') }
        $result.data = @{ services = @($now | ForEach-Object { @{ name = $_.Name; state = [string]$_.Status } }); left = $left }
    }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
# No exit: the document says how it went (an exit in the resident loop
# would lose it; see engine/winrm/loop.ps1).
ConvertTo-Json -InputObject $result -Compress -Depth 6
