# rmm:script=patch_install v1
# Downloads and installs the Windows updates rmm approved for this host,
# one at a time, and writes its progress and then its result as one JSON
# document to a file. It is not sent over WinRM to run: the Windows Update
# Agent refuses its downloader and installer to remote callers
# (E_ACCESSDENIED), so patch_task places this script on the host and runs
# it as SYSTEM in a one-shot scheduled task (powershell.exe -File), the
# way PSWindowsUpdate's Invoke-WUJob and Ansible's win_updates do.
# Params: job (rmm's job id), update_ids (WUA UpdateIDs separated by
# commas, in install order), progress (the file to write). It installs
# only those UpdateIDs: one the search no longer returns (installed
# since, superseded, hidden) is reported as not applicable.
# The progress document: job, state (running, done, failed), phase
# (searching, downloading, installing, done), current, total, kb,
# percent, started, updated, finished, reboot_required, hresult, message,
# and updates: one entry per update handled so far with its download and
# install ResultCode (0 not started, 2 succeeded, 3 succeeded with
# errors, 4 failed, 5 aborted), HResult and RebootRequired. It is written
# to a temporary file and moved over the old one, so a reader never sees
# half of it. Windows PowerShell 5.1 in FullLanguage mode (COM objects).
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$progress = [string]$RmmParams.progress
$ids = @(([string]$RmmParams.update_ids).Split(',') | ForEach-Object { $_.Trim() } | Where-Object { $_ })
$state = @{ job = [string]$RmmParams.job; state = 'running'; phase = 'searching'; current = 0; total = $ids.Count; kb = ''; percent = 0; started = ''; updated = ''; finished = ''; reboot_required = $false; hresult = 0; message = ''; updates = @() }
function Get-Now { (Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ') }
function Save-Progress {
    $state.updated = Get-Now
    $tmp = $progress + '.tmp'
    Set-Content -LiteralPath $tmp -Value (ConvertTo-Json -InputObject $state -Compress -Depth 4) -Encoding UTF8
    Move-Item -LiteralPath $tmp -Destination $progress -Force
}
$state.started = Get-Now
try {
    if ($ExecutionContext.SessionState.LanguageMode -ne 'FullLanguage') { throw 'Installing updates needs PowerShell in FullLanguage mode (COM objects); this host restricts it (AppLocker or WDAC policy: ConstrainedLanguage).' }
    Save-Progress
    $session = New-Object -ComObject Microsoft.Update.Session
    $session.ClientApplicationID = 'rmm'
    $searcher = $session.CreateUpdateSearcher()
    $found = $searcher.Search('IsInstalled=0 and IsHidden=0')
    $byId = @{}
    foreach ($u in $found.Updates) { $byId[[string]$u.Identity.UpdateID] = $u }
    $i = 0
    foreach ($id in $ids) {
        $i++
        $row = @{ update_id = $id; kb = ''; title = ''; download_result = 0; result_code = 0; hresult = 0; reboot_required = $false; message = '' }
        $u = $byId[$id]
        if (-not $u) {
            $row.message = 'not applicable: the search no longer returns it (installed since, superseded or hidden)'
        } else {
            foreach ($k in $u.KBArticleIDs) { if (-not $row.kb) { $row.kb = 'KB' + $k } }
            $row.title = [string]$u.Title
            $state.current = $i
            $state.kb = $row.kb
            try {
                if (-not $u.EulaAccepted) { $u.AcceptEula() }
                $one = New-Object -ComObject Microsoft.Update.UpdateColl
                [void]$one.Add($u)
                $row.download_result = 2
                if (-not $u.IsDownloaded) {
                    $state.phase = 'downloading'
                    Save-Progress
                    $downloader = $session.CreateUpdateDownloader()
                    $downloader.Updates = $one
                    $d = $downloader.Download()
                    $row.download_result = [int]$d.ResultCode
                    $row.hresult = [long]$d.GetUpdateResult(0).HResult
                }
                if ($row.download_result -eq 2 -or $row.download_result -eq 3) {
                    $state.phase = 'installing'
                    Save-Progress
                    $installer = $session.CreateUpdateInstaller()
                    $installer.Updates = $one
                    $r = $installer.Install()
                    $ur = $r.GetUpdateResult(0)
                    $row.result_code = [int]$ur.ResultCode
                    $row.hresult = [long]$ur.HResult
                    $row.reboot_required = [bool]$ur.RebootRequired
                } else {
                    $row.result_code = $row.download_result
                    $row.message = 'download failed'
                }
            } catch {
                $row.result_code = 4
                $row.hresult = [long]$_.Exception.HResult
                $row.message = $_.Exception.Message
            }
        }
        if ($row.reboot_required) { $state.reboot_required = $true }
        $state.updates += $row
        $state.percent = [int](100 * $i / [Math]::Max(1, $ids.Count))
        Save-Progress
    }
    if ((New-Object -ComObject Microsoft.Update.SystemInfo).RebootRequired) { $state.reboot_required = $true }
    $state.state = 'done'
} catch {
    $state.state = 'failed'
    $state.message = $_.Exception.Message
    $state.hresult = [long]$_.Exception.HResult
}
$state.phase = 'done'
$state.finished = Get-Now
Save-Progress
