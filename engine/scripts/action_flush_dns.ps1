# rmm:script=action_flush_dns v1
# Flushes the DNS client cache (Clear-DnsClientCache, as ipconfig
# /flushdns). No params. Windows PowerShell 5.1.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
try {
    Clear-DnsClientCache
    $result.message = 'Successfully flushed the DNS Resolver Cache.'
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
ConvertTo-Json -InputObject $result -Compress -Depth 6
if (-not $result.ok) { exit 1 }
exit 0
