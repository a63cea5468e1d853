# rmm:script=patch_scan v1
# Lists the Windows updates this host misses and those it has installed,
# through the Windows Update Agent (Microsoft.Update.Session,
# IUpdateSearcher.Search): the searcher is one of the WUA interfaces a
# remote session may use (downloading and installing are not; rmm does
# those in a scheduled task, patch_install). The host's own update service
# answers: WSUS when group policy points it there, else Windows Update or
# Microsoft Update. Classifications are reported by their category id as
# well as their name, which is in the host's display language. Windows
# PowerShell 5.1 in FullLanguage mode (COM objects): a host in Constrained
# Language mode says so first. No exit: the document says how it went.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; hresult = 0; service = ''; server = ''; last_search_success = ''; last_install_success = ''; reboot_required = $false; missing = @(); installed = @() }
$inv = [Globalization.CultureInfo]::InvariantCulture
function ConvertTo-UpdateRow($u) {
    $classId = ''
    $className = ''
    foreach ($c in $u.Categories) {
        if ($c.Type -eq 'UpdateClassification') { $classId = [string]$c.CategoryID; $className = [string]$c.Name }
    }
    $kb = ''
    foreach ($k in $u.KBArticleIDs) { if (-not $kb) { $kb = 'KB' + $k } }
    $released = ''
    if ($u.LastDeploymentChangeTime) { $released = $u.LastDeploymentChangeTime.ToString('yyyy-MM-dd', $inv) }
    @{
        update_id         = [string]$u.Identity.UpdateID
        revision          = [int]$u.Identity.RevisionNumber
        kb                = $kb
        title             = [string]$u.Title
        classification_id = $classId
        classification    = $className
        severity          = [string]$u.MsrcSeverity
        size_bytes        = [long]$u.MaxDownloadSize
        reboot_behavior   = [int]$u.InstallationBehavior.RebootBehavior
        release_date      = $released
        downloaded        = [bool]$u.IsDownloaded
    }
}
try {
    if ($ExecutionContext.SessionState.LanguageMode -ne 'FullLanguage') { throw 'A Windows Update scan needs PowerShell in FullLanguage mode (COM objects); this host restricts it (AppLocker or WDAC policy: ConstrainedLanguage).' }
    $policy = Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate' -ErrorAction Ignore
    $au = Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate\AU' -ErrorAction Ignore
    if ($au -and $au.UseWUServer -eq 1 -and $policy -and $policy.WUServer) {
        $result.service = 'WSUS'
        $result.server = [string]$policy.WUServer
    } else {
        $manager = New-Object -ComObject Microsoft.Update.ServiceManager
        foreach ($s in $manager.Services) { if ($s.IsDefaultAUService) { $result.service = [string]$s.Name } }
        if (-not $result.service) { $result.service = 'Windows Update' }
    }
    $auto = New-Object -ComObject Microsoft.Update.AutoUpdate
    # Both dates are UTC (IAutomaticUpdatesResults).
    if ($auto.Results.LastSearchSuccessDate) { $result.last_search_success = $auto.Results.LastSearchSuccessDate.ToString('yyyy-MM-ddTHH:mm:ss', $inv) + 'Z' }
    if ($auto.Results.LastInstallationSuccessDate) { $result.last_install_success = $auto.Results.LastInstallationSuccessDate.ToString('yyyy-MM-ddTHH:mm:ss', $inv) + 'Z' }
    $session = New-Object -ComObject Microsoft.Update.Session
    $session.ClientApplicationID = 'rmm'
    $searcher = $session.CreateUpdateSearcher()
    $found = $searcher.Search('IsInstalled=0 and IsHidden=0')
    $result.missing = @(foreach ($u in $found.Updates) { ConvertTo-UpdateRow $u })
    $had = $searcher.Search("IsInstalled=1 and Type='Software'")
    $result.installed = @(foreach ($u in $had.Updates) { ConvertTo-UpdateRow $u })
    $result.reboot_required = [bool](New-Object -ComObject Microsoft.Update.SystemInfo).RebootRequired
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
    $result.hresult = [long]$_.Exception.HResult
}
ConvertTo-Json -InputObject $result -Compress -Depth 4
