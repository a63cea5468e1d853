# rmm:script=action_registry_set v2
# Sets a registry value, creating the key when missing. Params: path (e.g.
# HKLM:\SOFTWARE\Contoso), name, type (String, ExpandString, MultiString,
# DWord, QWord, Binary), value (MultiString: entries separated by |;
# Binary: hex digits, e.g. 0aff10; DWord and QWord: decimal, or hex with
# 0x, over the whole unsigned range). New-ItemProperty -Force with
# -PropertyType creates or overwrites the value with that type; it takes
# DWord and QWord values as signed numbers, so 0xFFFFFFFF is written as
# the Int32 with those bits. No .NET method but Parse of core types:
# Constrained Language mode runs it. Windows PowerShell 5.1.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
try {
    $path = [string]$RmmParams.path
    $name = [string]$RmmParams.name
    $type = [string]$RmmParams.type
    $text = [string]$RmmParams.value
    $inv = [Globalization.CultureInfo]::InvariantCulture
    $digits = $text.Trim()
    $style = [Globalization.NumberStyles]::Integer
    if ($digits -match '^0[xX][0-9A-Fa-f]+$') {
        $digits = $digits.Substring(2)
        $style = [Globalization.NumberStyles]::HexNumber
    }
    switch ($type) {
        'String'       { $value = $text }
        'ExpandString' { $value = $text }
        'MultiString'  { $value = [string[]]($text -split '\|') }
        'DWord' {
            $u = [uint32]::Parse($digits, $style, $inv)
            $wrap = 0
            if ($u -gt [int32]::MaxValue) { $wrap = 4294967296 }
            $value = [int32]([int64]$u - $wrap)
        }
        'QWord' {
            $u = [uint64]::Parse($digits, $style, $inv)
            if ($u -gt [int64]::MaxValue) { $value = [int64]([decimal]$u - [decimal]'18446744073709551616') } else { $value = [int64]$u }
        }
        'Binary' {
            if ($text.Length % 2 -ne 0 -or $text -notmatch '^[0-9A-Fa-f]*$') { throw "value '$text' is not hex digits in pairs" }
            $value = [byte[]]@(for ($i = 0; $i -lt $text.Length; $i += 2) { [byte]('0x' + $text.Substring($i, 2)) })
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
# No exit: the document says how it went (an exit in the resident loop
# would lose it; see engine/winrm/loop.ps1).
ConvertTo-Json -InputObject $result -Compress -Depth 6
