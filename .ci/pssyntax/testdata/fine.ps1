# Constructs rmm's scripts use, including the grammar's false positive 1
# (capital multipliers), which the checker normalizes.
$ErrorActionPreference = 'Stop'
$free = [math]::Round((Get-PSDrive C).Free / 1GB, 1)
$list = @(Get-Process | Sort-Object 'Name', 'Id' | ForEach-Object { @{ name = $_.ProcessName; pid = $_.Id } })
try { [void][Text.Encoding]::UTF8.GetBytes('x') } catch { exit 3 }
[Console]::Out.Write((@{ free = $free; n = $list.Count } | ConvertTo-Json -Compress))
