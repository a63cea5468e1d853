# rmm:script=inventory_hardware v1
# Prints one JSON document: the machine's hardware from CIM (computer
# system, BIOS, baseboard, processors, memory modules, disk drives, logical
# volumes, video controllers, physical network adapters, battery).
# Windows PowerShell 5.1; CIM only. A class the host cannot answer is
# reported as {"unavailable":"reason"}; it does not fail the document.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
function Get-Part([scriptblock]$Block) {
    try { & $Block } catch { [pscustomobject]@{ unavailable = $_.Exception.Message } }
}
$cs = Get-CimInstance -ClassName Win32_ComputerSystem
[pscustomobject]@{
    system = [pscustomobject]@{
        manufacturer       = $cs.Manufacturer
        model              = $cs.Model
        domain             = $cs.Domain
        part_of_domain     = $cs.PartOfDomain
        system_type        = $cs.SystemType
        pc_system_type     = $cs.PCSystemType
        total_memory_bytes = $cs.TotalPhysicalMemory
        processors         = $cs.NumberOfProcessors
        logical_processors = $cs.NumberOfLogicalProcessors
    }
    bios = Get-Part { Get-CimInstance -ClassName Win32_BIOS | ForEach-Object {
        [pscustomobject]@{
            manufacturer  = $_.Manufacturer
            version       = $_.SMBIOSBIOSVersion
            serial_number = $_.SerialNumber
            release_date  = $_.ReleaseDate
        } } }
    baseboard = Get-Part { Get-CimInstance -ClassName Win32_BaseBoard | ForEach-Object {
        [pscustomobject]@{
            manufacturer  = $_.Manufacturer
            product       = $_.Product
            serial_number = $_.SerialNumber
        } } }
    processors = Get-Part { @(Get-CimInstance -ClassName Win32_Processor | ForEach-Object {
        [pscustomobject]@{
            name               = $_.Name.Trim()
            manufacturer       = $_.Manufacturer
            cores              = $_.NumberOfCores
            logical_processors = $_.NumberOfLogicalProcessors
            max_clock_mhz      = $_.MaxClockSpeed
            architecture       = $_.Architecture
        } }) }
    memory = Get-Part { @(Get-CimInstance -ClassName Win32_PhysicalMemory | ForEach-Object {
        [pscustomobject]@{
            bank           = $_.BankLabel
            locator        = $_.DeviceLocator
            manufacturer   = $_.Manufacturer
            part_number    = "$($_.PartNumber)".Trim()
            capacity_bytes = $_.Capacity
            speed_mhz      = $_.Speed
        } }) }
    disks = Get-Part { @(Get-CimInstance -ClassName Win32_DiskDrive | ForEach-Object {
        [pscustomobject]@{
            index         = $_.Index
            model         = $_.Model
            serial_number = "$($_.SerialNumber)".Trim()
            interface     = $_.InterfaceType
            media_type    = $_.MediaType
            size_bytes    = $_.Size
            partitions    = $_.Partitions
        } }) }
    volumes = Get-Part { @(Get-CimInstance -ClassName Win32_LogicalDisk | ForEach-Object {
        [pscustomobject]@{
            drive       = $_.DeviceID
            label       = $_.VolumeName
            file_system = $_.FileSystem
            drive_type  = $_.DriveType
            size_bytes  = $_.Size
            free_bytes  = $_.FreeSpace
        } }) }
    video = Get-Part { @(Get-CimInstance -ClassName Win32_VideoController | ForEach-Object {
        [pscustomobject]@{
            name           = $_.Name
            driver_version = $_.DriverVersion
            driver_date    = $_.DriverDate
            ram_bytes      = $_.AdapterRAM
            horizontal     = $_.CurrentHorizontalResolution
            vertical       = $_.CurrentVerticalResolution
        } }) }
    network_adapters = Get-Part { @(Get-CimInstance -ClassName Win32_NetworkAdapter -Filter 'PhysicalAdapter=TRUE' | ForEach-Object {
        [pscustomobject]@{
            name          = $_.Name
            connection_id = $_.NetConnectionID
            manufacturer  = $_.Manufacturer
            mac           = $_.MACAddress
            speed_bps     = $_.Speed
            enabled       = $_.NetEnabled
            status        = $_.NetConnectionStatus
        } }) }
    battery = Get-Part { @(Get-CimInstance -ClassName Win32_Battery | ForEach-Object {
        [pscustomobject]@{
            name           = $_.Name
            status         = $_.BatteryStatus
            charge_pct     = $_.EstimatedChargeRemaining
            design_voltage = $_.DesignVoltage
        } }) }
} | ConvertTo-Json -Compress -Depth 5
