# rmm:script=inventory_network v1
# Prints one JSON document: IP-enabled adapters with their IPv4 and IPv6
# addresses, gateways and DNS servers, the IPv4 routes, SMB shares and
# listening TCP ports. Windows PowerShell 5.1; CIM and the NetTCPIP and
# SmbShare modules. A cmdlet the host lacks reports that part as
# {"unavailable":"reason"}; it does not fail the document.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
function Get-Part([string]$Command, [scriptblock]$Block) {
    if ($Command -and -not (Get-Command -Name $Command -ErrorAction SilentlyContinue)) {
        return [pscustomobject]@{ unavailable = "$Command is not available on this host" }
    }
    try { & $Block } catch { [pscustomobject]@{ unavailable = $_.Exception.Message } }
}
[pscustomobject]@{
    adapters = Get-Part '' { @(Get-CimInstance -ClassName Win32_NetworkAdapterConfiguration -Filter 'IPEnabled=TRUE' | ForEach-Object {
        [pscustomobject]@{
            index       = $_.InterfaceIndex
            description = $_.Description
            mac         = $_.MACAddress
            dhcp        = $_.DHCPEnabled
            ipv4        = @($_.IPAddress | Where-Object { $_ -notmatch ':' })
            ipv6        = @($_.IPAddress | Where-Object { $_ -match ':' })
            gateways    = $_.DefaultIPGateway
            dns_servers = $_.DNSServerSearchOrder
            dns_domain  = $_.DNSDomain
        } }) }
    routes = Get-Part 'Get-NetRoute' { @(Get-NetRoute -AddressFamily IPv4 | ForEach-Object {
        [pscustomobject]@{
            destination = $_.DestinationPrefix
            next_hop    = $_.NextHop
            interface   = $_.InterfaceIndex
            metric      = $_.RouteMetric
        } }) }
    shares = Get-Part 'Get-SmbShare' { @(Get-SmbShare | ForEach-Object {
        [pscustomobject]@{
            name        = $_.Name
            path        = $_.Path
            description = $_.Description
            type        = $_.ShareType
        } }) }
    listening = Get-Part 'Get-NetTCPConnection' { @(Get-NetTCPConnection -State Listen | ForEach-Object {
        [pscustomobject]@{
            address = $_.LocalAddress
            port    = $_.LocalPort
            pid     = $_.OwningProcess
            state   = $_.State
        } }) }
} | ConvertTo-Json -Compress -Depth 4
