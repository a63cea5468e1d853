# rmm:script=metrics v1
# Prints one JSON document: CPU load, memory use and free space per fixed
# volume. Windows PowerShell 5.1; CIM only (no WMI cmdlets, no modules).
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$cpu = (Get-CimInstance -ClassName Win32_Processor | Measure-Object -Property LoadPercentage -Average).Average
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$memPct = 0
if ($os.TotalVisibleMemorySize -gt 0) {
    $memPct = [math]::Round((($os.TotalVisibleMemorySize - $os.FreePhysicalMemory) / $os.TotalVisibleMemorySize) * 100, 1)
}
$disks = @(Get-CimInstance -ClassName Win32_LogicalDisk -Filter 'DriveType=3' | ForEach-Object {
    $freePct = 0
    if ($_.Size -gt 0) { $freePct = [math]::Round($_.FreeSpace / $_.Size * 100, 1) }
    [pscustomobject]@{
        drive    = $_.DeviceID
        size_gb  = [math]::Round($_.Size / 1GB, 1)
        free_gb  = [math]::Round($_.FreeSpace / 1GB, 1)
        free_pct = $freePct
    }
})
[pscustomobject]@{
    hostname     = $env:COMPUTERNAME
    cpu_pct      = [math]::Round([double]$cpu, 1)
    mem_pct      = $memPct
    mem_total_mb = [math]::Round($os.TotalVisibleMemorySize / 1024)
    last_boot    = $os.LastBootUpTime
    disks        = $disks
} | ConvertTo-Json -Compress -Depth 4
