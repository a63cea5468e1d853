# rmm:script=action_list_services v1
# Lists the services: name, display name, state and start type. No
# params. Windows PowerShell 5.1 (StartType needs .NET 4.6.1, present on
# every 5.1 host).
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = @{ ok = $true; message = ''; data = $null }
try {
    $list = @(Get-Service | Sort-Object Name | ForEach-Object {
        @{ name = $_.Name; display_name = $_.DisplayName; state = [string]$_.Status; start_type = [string]$_.StartType }
    })
    $result.message = '{0} services' -f $list.Count
    $result.data = @{ services = $list }
} catch {
    $result.ok = $false
    $result.message = $_.Exception.Message
}
ConvertTo-Json -InputObject $result -Compress -Depth 6
if (-not $result.ok) { exit 1 }
exit 0
