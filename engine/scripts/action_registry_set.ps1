# rmm:script=action_registry_set v1
# Sets a registry value, creating the key when missing. Params: path (e.g.
# HKLM:\SOFTWARE\Contoso), name, type (String, ExpandString, MultiString,
# DWord, QWord, Binary), value (MultiString: entries separated by |;
# Binary: hex digits, e.g. 0aff10). New-ItemProperty -Force with
# -PropertyType creates or overwrites the value with that type. Windows
# PowerShell 5.1.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
try {
    $path = [string]$RmmParams.path
    $name = [string]$RmmParams.name
    $type = [string]$RmmParams.type
    $text = [string]$RmmParams.value
    $inv = [Globalization.CultureInfo]::InvariantCulture
    switch ($type) {
        'String'       { $value = $text }
        'ExpandString' { $value = $text }
        'MultiString'  { $value = [string[]]($text -split '\|') }
        'DWord'        { $value = [int][uint32]::Parse($text, $inv) }
        'QWord'        { $value = [long][uint64]::Parse($text, $inv) }
        'Binary' {
            if ($text.Length % 2 -ne 0 -or $text -notmatch '^[0-9A-Fa-f]*$') { throw "value '$text' is not hex digits in pairs" }
            $value = [byte[]]@(for ($i = 0; $i -lt $text.Length; $i += 2) { [Convert]::ToByte($text.Substring($i, 2), 16) })
        }
        default { throw "type '$type' is not one of String, ExpandString, MultiString, DWord, QWord, Binary" }
    }
    if (-not (Test-Path -LiteralPath $path)) { New-Item -Path $path -Force | Out-Null }
    New-ItemProperty -LiteralPath $path -Name $name -PropertyType $type -Value $value -Force | Out-Null
    $result.message = 'Set {0}\{1} ({2})' -f $path, $name, $type
    $result.data = @{ path = $path; name = $name; type = $type; value = $text }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
ConvertTo-Json -InputObject $result -Compress -Depth 6
if (-not $result.ok) { exit 1 }
exit 0
