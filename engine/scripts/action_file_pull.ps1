# rmm:script=action_file_pull v2
# Reads one chunk of a file the console pulls. Params: path, offset,
# length. data: size (the whole file's), data (base64 of the bytes
# [offset, offset+length)), sha256 (hex of the whole file, with the chunk
# that reaches its end; empty before, so the file is hashed once).
# [IO.File] and Get-FileHash; Windows PowerShell 5.1 in FullLanguage mode
# (a host in Constrained Language mode refuses the .NET calls, and the
# script says so first).
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
try {
    if ($ExecutionContext.SessionState.LanguageMode -ne 'FullLanguage') { throw 'File transfer needs PowerShell in FullLanguage mode; this host restricts it (AppLocker or WDAC policy: ConstrainedLanguage).' }
    $path = [string]$RmmParams.path
    $offset = [long]$RmmParams.offset
    $length = [int]$RmmParams.length
    if (-not (Test-Path -LiteralPath $path -PathType Leaf)) { throw ("Cannot find path '{0}' because it does not exist." -f $path) }
    $fs = [IO.File]::Open($path, [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]::Read)
    try {
        $size = $fs.Length
        $n = [int][Math]::Max(0, [Math]::Min([long]$length, $size - $offset))
        $buf = New-Object byte[] $n
        [void]$fs.Seek($offset, [IO.SeekOrigin]::Begin)
        $read = 0
        while ($read -lt $n) {
            $got = $fs.Read($buf, $read, $n - $read)
            if ($got -le 0) { break }
            $read += $got
        }
    } finally {
        $fs.Dispose()
    }
    $hash = ''
    if ($offset + $read -ge $size) { $hash = (Get-FileHash -LiteralPath $path -Algorithm SHA256).Hash.ToLowerInvariant() }
    $result.message = 'Read {0} bytes' -f $read
    $result.data = @{ size = $size; data = [Convert]::ToBase64String($buf, 0, $read); sha256 = $hash }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
# No exit: the document says how it went (an exit in the resident loop
# would lose it; see engine/winrm/loop.ps1).
ConvertTo-Json -InputObject $result -Compress -Depth 6
