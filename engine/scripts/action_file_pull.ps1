# rmm:script=action_file_pull v1
# Reads one chunk of a file the console pulls. Params: path, offset,
# length. data: size (the whole file's), data (base64 of the bytes
# [offset, offset+length)), sha256 (hex of the whole file). [IO.File] and
# Get-FileHash; Windows PowerShell 5.1.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
try {
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
    $hash = (Get-FileHash -LiteralPath $path -Algorithm SHA256).Hash.ToLowerInvariant()
    $result.message = 'Read {0} bytes' -f $read
    $result.data = @{ size = $size; data = [Convert]::ToBase64String($buf, 0, $read); sha256 = $hash }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
ConvertTo-Json -InputObject $result -Compress -Depth 6
if (-not $result.ok) { exit 1 }
exit 0
