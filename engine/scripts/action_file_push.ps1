# rmm:script=action_file_push v2
# Writes one chunk of a file the console pushes. Params: path, offset (the
# file's size so far: 0 starts the file anew), data (base64 of the chunk),
# final (true on the last chunk), sha256 (hex of the whole file, on the
# last chunk). A chunk at another offset is refused ("offset mismatch");
# on the last chunk the whole file's SHA-256 is checked and the file is
# removed when it differs ("checksum mismatch"). [IO.File] and
# Get-FileHash; Windows PowerShell 5.1 in FullLanguage mode: a host in
# Constrained Language mode (AppLocker, WDAC) refuses the .NET calls, and
# the script says so first.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
try {
    if ($ExecutionContext.SessionState.LanguageMode -ne 'FullLanguage') { throw 'File transfer needs PowerShell in FullLanguage mode; this host restricts it (AppLocker or WDAC policy: ConstrainedLanguage).' }
    $path = [string]$RmmParams.path
    $offset = [long]$RmmParams.offset
    $bytes = [Convert]::FromBase64String([string]$RmmParams.data)
    $dir = Split-Path -Parent $path
    if ($dir -and -not (Test-Path -LiteralPath $dir)) { New-Item -ItemType Directory -Path $dir -Force | Out-Null }
    $mode = [IO.FileMode]::OpenOrCreate
    if ($offset -eq 0) { $mode = [IO.FileMode]::Create }
    $fs = [IO.File]::Open($path, $mode, [IO.FileAccess]::Write, [IO.FileShare]::None)
    try {
        if ($fs.Length -ne $offset) { throw 'offset mismatch' }
        [void]$fs.Seek(0, [IO.SeekOrigin]::End)
        $fs.Write($bytes, 0, $bytes.Length)
        $size = $fs.Length
    } finally {
        $fs.Dispose()
    }
    if ([string]$RmmParams.final -eq 'true') {
        $hash = (Get-FileHash -LiteralPath $path -Algorithm SHA256).Hash.ToLowerInvariant()
        if ($hash -ne ([string]$RmmParams.sha256).ToLowerInvariant()) {
            Remove-Item -LiteralPath $path -Force
            throw 'checksum mismatch'
        }
        $result.message = 'File written ({0} bytes, sha256 verified)' -f $size
        $result.data = @{ size = $size; sha256 = $hash }
    } else {
        $result.message = 'Chunk written'
        $result.data = @{ size = $size; sha256 = '' }
    }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
# No exit: the document says how it went (an exit in the resident loop
# would lose it; see engine/winrm/loop.ps1).
ConvertTo-Json -InputObject $result -Compress -Depth 6
