# rmm:script=action_clear_temp v2
# Removes the files under the account's %TEMP% and %windir%\Temp. Files in
# use are skipped (not an error). No params. Windows PowerShell 5.1.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
try {
    $count = 0
    $bytes = [long]0
    $skipped = 0
    foreach ($dir in @($env:TEMP, (Join-Path $env:windir 'Temp')) | Select-Object -Unique) {
        if (-not (Test-Path -LiteralPath $dir)) { continue }
        foreach ($f in @(Get-ChildItem -LiteralPath $dir -File -Recurse -Force -ErrorAction SilentlyContinue)) {
            try {
                $len = $f.Length
                Remove-Item -LiteralPath $f.FullName -Force -ErrorAction Stop
                $count++
                $bytes += $len
            } catch {
                $skipped++
            }
        }
        Get-ChildItem -LiteralPath $dir -Directory -Force -ErrorAction SilentlyContinue |
            Remove-Item -Recurse -Force -ErrorAction SilentlyContinue
    }
    $mb = ([decimal]::Round([decimal]$bytes / 1MB, 1)).ToString('0.0', [Globalization.CultureInfo]::InvariantCulture)
    $result.message = 'Removed {0} files ({1} MB)' -f $count, $mb
    $result.data = @{ files = $count; bytes = $bytes; skipped = $skipped }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
# No exit: the document says how it went (an exit in the resident loop
# would lose it; see engine/winrm/loop.ps1).
ConvertTo-Json -InputObject $result -Compress -Depth 6
