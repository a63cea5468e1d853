# rmm:script=patch_task v1
# Runs rmm's update installer (patch_install) in a one-shot scheduled task
# as SYSTEM, and reports on it. The Windows Update Agent refuses its
# downloader and installer to a remote (network logon) session, so the
# install cannot run over WinRM itself; a task registered through the
# Task Scheduler's COM API (Schedule.Service) runs it locally. Params:
#   op        start, poll, cancel or cleanup
#   task      the task's name, in the \rmm folder of the Task Scheduler
#   dir       the directory for the script and its progress file
#             (created with access for SYSTEM and Administrators only)
#   file      the script's file name in dir; progress: the progress file's
#   script    (start) the installer's text, written to dir\file
# start writes the script, registers the task (principal SYSTEM, service
# account logon, highest run level, hidden, not stopped on batteries, a
# 4 hour limit, no trigger) and runs it once.
# poll reads the task's state, its last run time and result, the progress
# file, the last boot time and the servicing state (Component Based
# Servicing's ServicingInProgress: 0 or absent idle, 1 waiting for a
# restart, 2 busy). cancel stops the task, then reads as poll does.
# cleanup deletes the task, the script and the progress file.
# Windows PowerShell 5.1 in FullLanguage mode (COM objects), which the
# script checks first. No exit: the document says how it went.
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
function Get-RmmFolder($svc) {
    try { $svc.GetFolder('\rmm') } catch { $svc.GetFolder('\').CreateFolder('rmm') }
}
function Get-TaskState($svc, [string]$name, [string]$progressPath) {
    $s = @{ exists = $false; state = 0; last_run = ''; last_result = 0; progress = ''; progress_error = ''; last_boot = ''; servicing = 0; reboot_pending = $false }
    try {
        $t = $svc.GetFolder('\rmm').GetTask($name)
        $s.exists = $true
        $s.state = [int]$t.State
        $s.last_result = [long]$t.LastTaskResult
        # A task that never ran reports 1899-12-30 (the OLE zero date).
        if ($t.LastRunTime.Year -gt 1900) { $s.last_run = $t.LastRunTime.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ') }
    } catch { }
    if ($progressPath -and (Test-Path -LiteralPath $progressPath)) {
        try { $s.progress = Get-Content -LiteralPath $progressPath -Raw } catch { $s.progress_error = $_.Exception.Message }
    }
    $s.last_boot = (Get-CimInstance -ClassName Win32_OperatingSystem).LastBootUpTime.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ')
    $cbs = Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\Interface' -Name ServicingInProgress -ErrorAction Ignore
    if ($cbs) { $s.servicing = [int]$cbs.ServicingInProgress }
    $s.reboot_pending = (Test-Path -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending') -or
        (Test-Path -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired')
    $s
}
try {
    if ($ExecutionContext.SessionState.LanguageMode -ne 'FullLanguage') { throw 'Installing updates needs PowerShell in FullLanguage mode (COM objects); this host restricts it (AppLocker or WDAC policy: ConstrainedLanguage).' }
    $op = [string]$RmmParams.op
    $name = [string]$RmmParams.task
    $dir = [string]$RmmParams.dir
    $scriptPath = $null
    $progressPath = $null
    if ($dir) {
        $scriptPath = Join-Path $dir ([string]$RmmParams.file)
        $progressPath = Join-Path $dir ([string]$RmmParams.progress)
    }
    $svc = New-Object -ComObject Schedule.Service
    $svc.Connect()
    switch ($op) {
        'start' {
            if (-not (Test-Path -LiteralPath $dir)) { New-Item -ItemType Directory -Path $dir -Force | Out-Null }
            # SYSTEM runs what is in this directory: only SYSTEM and the
            # Administrators may write there.
            $acl = Invoke-Native 'icacls.exe' @($dir, '/inheritance:r', '/grant:r', '*S-1-5-18:(OI)(CI)F', '*S-1-5-32-544:(OI)(CI)F')
            if ($acl.Code -ne 0) { throw ('icacls failed with exit code {0}: {1}' -f $acl.Code, ($acl.Lines -join ' ').Trim()) }
            if (Test-Path -LiteralPath $progressPath) { Remove-Item -LiteralPath $progressPath -Force }
            Set-Content -LiteralPath $scriptPath -Value ([string]$RmmParams.script) -Encoding UTF8
            $folder = Get-RmmFolder $svc
            $def = $svc.NewTask(0)
            $def.RegistrationInfo.Description = 'rmm: install approved Windows updates (job ' + [string]$RmmParams.job + ')'
            $def.Principal.UserId = 'S-1-5-18'
            $def.Principal.LogonType = 5
            $def.Principal.RunLevel = 1
            $def.Settings.Enabled = $true
            $def.Settings.Hidden = $true
            $def.Settings.StartWhenAvailable = $true
            $def.Settings.DisallowStartIfOnBatteries = $false
            $def.Settings.StopIfGoingOnBatteries = $false
            $def.Settings.MultipleInstances = 2
            $def.Settings.ExecutionTimeLimit = 'PT4H'
            # No trigger: the task runs once, when Run starts it; a time
            # trigger would run it a second time after it finished.
            $action = $def.Actions.Create(0)
            $action.Path = Join-Path $env:SystemRoot 'System32\WindowsPowerShell\v1.0\powershell.exe'
            $action.Arguments = '-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "' + $scriptPath + '"'
            $task = $folder.RegisterTaskDefinition($name, $def, 6, 'SYSTEM', $null, 5)
            [void]$task.Run($null)
            $result.message = 'Task ' + $name + ' registered and started'
            $result.data = Get-TaskState $svc $name $progressPath
        }
        'poll' {
            $result.message = 'Task ' + $name + ' read'
            $result.data = Get-TaskState $svc $name $progressPath
        }
        'cancel' {
            try { $svc.GetFolder('\rmm').GetTask($name).Stop(0) } catch { }
            $result.message = 'Task ' + $name + ' stopped'
            $result.data = Get-TaskState $svc $name $progressPath
        }
        'cleanup' {
            try { $svc.GetFolder('\rmm').DeleteTask($name, 0) } catch { }
            foreach ($p in @($scriptPath, $progressPath, ($progressPath + '.tmp'))) {
                if ($p -and (Test-Path -LiteralPath $p)) { Remove-Item -LiteralPath $p -Force }
            }
            $result.message = 'Task ' + $name + ' removed'
        }
        default { throw ("op '{0}' is not one of start, poll, cancel, cleanup" -f $op) }
    }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
# No exit: the document says how it went (an exit in the resident loop
# would lose it; see engine/winrm/loop.ps1).
ConvertTo-Json -InputObject $result -Compress -Depth 4
