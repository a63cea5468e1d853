# rmm:script=action_flush_dns v2
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
# No exit: the document says how it went (an exit in the resident loop
# would lose it; see engine/winrm/loop.ps1).
ConvertTo-Json -InputObject $result -Compress -Depth 6
