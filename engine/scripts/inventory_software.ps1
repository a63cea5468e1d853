# rmm:script=inventory_software v1
# Prints one JSON document: the operating system, hotfixes, installed
# applications (the Uninstall registry keys, 64- and 32-bit; never
# Win32_Product, whose query runs an MSI consistency check on every
# package), services and startup commands. Windows PowerShell 5.1; CIM and
# the registry only. A part the host cannot answer is reported as
# {"unavailable":"reason"}; it does not fail the document.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
function Get-Part([scriptblock]$Block) {
    try { & $Block } catch { [pscustomobject]@{ unavailable = $_.Exception.Message } }
}
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$cv = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion' -ErrorAction SilentlyContinue
$uninstall = @(
    @{ Path = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\*'; Arch = 'x64' },
    @{ Path = 'HKLM:\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\*'; Arch = 'x86' }
)
[pscustomobject]@{
    os = [pscustomobject]@{
        name           = $os.Caption
        version        = $os.Version
        build          = $os.BuildNumber
        ubr            = $cv.UBR
        display_version = $cv.DisplayVersion
        edition_id     = $cv.EditionID
        architecture   = $os.OSArchitecture
        product_type   = $os.ProductType
        install_date   = $os.InstallDate
        last_boot      = $os.LastBootUpTime
        locale         = $os.Locale
        registered_to  = $os.RegisteredUser
    }
    hotfixes = Get-Part { @(Get-CimInstance -ClassName Win32_QuickFixEngineering | ForEach-Object {
        $on = $null
        if ($_.InstalledOn) { try { $on = [datetime]::Parse($_.InstalledOn, [Globalization.CultureInfo]::InvariantCulture) } catch { } }
        [pscustomobject]@{
            id           = $_.HotFixID
            description  = $_.Description
            installed_on = $on
            installed_by = $_.InstalledBy
        } }) }
    applications = Get-Part { @(foreach ($u in $uninstall) {
        Get-ItemProperty -Path $u.Path -ErrorAction SilentlyContinue |
            Where-Object { $_.DisplayName -and -not $_.SystemComponent -and -not $_.ParentKeyName } |
            ForEach-Object {
                [pscustomobject]@{
                    name         = $_.DisplayName
                    version      = $_.DisplayVersion
                    publisher    = $_.Publisher
                    install_date = $_.InstallDate
                    size_kb      = $_.EstimatedSize
                    arch         = $u.Arch
                }
            }
    }) }
    services = Get-Part { @(Get-CimInstance -ClassName Win32_Service | ForEach-Object {
        [pscustomobject]@{
            name         = $_.Name
            display_name = $_.DisplayName
            state        = $_.State
            start_type   = $_.StartMode
            account      = $_.StartName
        } }) }
    startup = Get-Part { @(Get-CimInstance -ClassName Win32_StartupCommand | ForEach-Object {
        [pscustomobject]@{
            name     = $_.Name
            command  = $_.Command
            location = $_.Location
            user     = $_.User
        } }) }
} | ConvertTo-Json -Compress -Depth 4
