# rmm:script=metrics v3
# Prints one JSON document: CPU load, memory use, free space per fixed
# volume, disk queue length, the network interfaces' error counters (the
# engine turns two polls into errors/s), pending reboot and the state of
# the watched services. Windows PowerShell 5.1; CIM and the registry only
# (no modules). The engine fills in $watched from the config, each name
# a single-quoted literal made by scripts.Quote. No .NET method but those
# of core types ([decimal]::Round, not [math]::Round): it runs in
# Constrained Language mode (AppLocker, WDAC) too.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$watched = @()
$cpu = (Get-CimInstance -ClassName Win32_Processor | Measure-Object -Property LoadPercentage -Average).Average
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$memPct = 0
if ($os.TotalVisibleMemorySize -gt 0) {
    $memPct = [decimal]::Round([decimal]((($os.TotalVisibleMemorySize - $os.FreePhysicalMemory) / $os.TotalVisibleMemorySize) * 100), 1)
}
$disks = @(Get-CimInstance -ClassName Win32_LogicalDisk -Filter 'DriveType=3' | ForEach-Object {
    $freePct = 0
    if ($_.Size -gt 0) { $freePct = [decimal]::Round([decimal]($_.FreeSpace / $_.Size * 100), 1) }
    [pscustomobject]@{
        drive    = $_.DeviceID
        size_gb  = [decimal]::Round([decimal]($_.Size / 1GB), 1)
        free_gb  = [decimal]::Round([decimal]($_.FreeSpace / 1GB), 1)
        free_pct = $freePct
    }
})
$queue = 0
$pd = Get-CimInstance -ClassName Win32_PerfFormattedData_PerfDisk_PhysicalDisk -Filter "Name='_Total'" -ErrorAction SilentlyContinue
if ($pd) { $queue = [double]$pd.CurrentDiskQueueLength }
$netErrors = 0
Get-CimInstance -ClassName Win32_PerfRawData_Tcpip_NetworkInterface -ErrorAction SilentlyContinue | ForEach-Object {
    $netErrors += [int64]$_.PacketsReceivedErrors + [int64]$_.PacketsOutboundErrors
}
$reboot = (Test-Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending') -or
    (Test-Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired')
$services = @()
if ($watched.Count -gt 0) {
    # WQL escapes with a backslash inside its quotes: \\ then \'.
    $filter = ($watched | ForEach-Object { "Name='" + ($_ -replace '\\', '\\' -replace "'", "\'") + "'" }) -join ' OR '
    $found = @{}
    Get-CimInstance -ClassName Win32_Service -Filter $filter | ForEach-Object { $found[$_.Name] = $_.State }
    $services = @($watched | ForEach-Object {
        $state = 'Missing'
        if ($found.ContainsKey($_)) { $state = $found[$_] }
        [pscustomobject]@{ name = $_; state = $state }
    })
}
[pscustomobject]@{
    hostname       = $env:COMPUTERNAME
    cpu_pct        = [decimal]::Round([decimal][double]$cpu, 1)
    mem_pct        = $memPct
    mem_total_mb   = [decimal]::Round([decimal]($os.TotalVisibleMemorySize / 1024))
    last_boot      = $os.LastBootUpTime
    disks          = $disks
    disk_queue     = $queue
    net_errors     = $netErrors
    pending_reboot = $reboot
    services       = $services
} | ConvertTo-Json -Compress -Depth 4
