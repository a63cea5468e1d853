# A script with syntax errors: the check must find them (self-test).
$total = 0
foreach ($d in Get-PSDrive) {
    if ($d.Free -gt 1GB {
        $total += $d.Free
    }
$x = @{ a = 1
