# rmm:script=loop v1
# The resident PowerShell loop: rmm keeps one in each pooled WinRM shell
# and feeds it requests over stdin, so a warm poll pays no powershell.exe
# start. rmm starts it as
#   powershell -NoProfile -NonInteractive -EncodedCommand <this script>
# with WINRS_CONSOLEMODE_STDIN=FALSE and WINRS_SKIP_CMD_SHELL=TRUE, and
# never through -Command - or -File - (they run stdin statement by
# statement, drop an unterminated multi-line statement, and 5.1 can hang
# on piped stdin). Full-line comments are stripped before encoding.
#
# Framing protocol (engine/psloop.go and engine/winrmsim/loop.go follow
# the same; change all three together and bump the version):
#   start:   print "READY loop v1" and flush.
#   request: one ASCII line "<id> <base64 of the UTF-8 script>", id
#            matching [A-Za-z0-9-]{1,64}. "<id> EXIT" ends the loop with
#            exit code 0, as does the end of stdin. Other lines are ignored.
#   answer:  exactly three lines, then a flush:
#              BEGIN <id>
#              <base64 of UTF-8 JSON {"id":"..","output":"..","errors":[".."],"exit":N,"ms":N}>
#              END <id>
# Each script runs in a fresh runspace (its own scope: exit, errors and
# variables end or pollute nothing of the loop) inside try/catch, with
# $ProgressPreference = 'SilentlyContinue'; its output is formatted as
# text by Out-String. The next runspace is opened after the answer is
# flushed, while the loop waits for the next request.
$ErrorActionPreference = 'Continue'
$ProgressPreference = 'SilentlyContinue'
$utf8 = New-Object System.Text.UTF8Encoding $false
$stdin = [Console]::In
$stdout = [Console]::Out
function New-LoopRunspace {
    $r = [runspacefactory]::CreateRunspace()
    $r.Open()
    $r.SessionStateProxy.SetVariable('ProgressPreference', 'SilentlyContinue')
    $r
}
$rs = New-LoopRunspace
$stdout.WriteLine('READY loop v1')
$stdout.Flush()
while ($true) {
    $line = $stdin.ReadLine()
    if ($null -eq $line) { break }
    $parts = $line.Trim().Split(' ')
    if ($parts.Count -ne 2 -or $parts[0] -cnotmatch '^[A-Za-z0-9-]{1,64}$') { continue }
    $id = $parts[0]
    if ($parts[1] -ceq 'EXIT') { break }
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $errs = New-Object 'System.Collections.Generic.List[string]'
    $output = ''
    $code = 0
    $ps = $null
    try {
        $script = $utf8.GetString([Convert]::FromBase64String($parts[1]))
        $ps = [powershell]::Create()
        $ps.Runspace = $rs
        [void]$ps.AddScript($script).AddCommand('Out-String').AddParameter('Width', 4096)
        $output = -join $ps.Invoke()
        foreach ($e in $ps.Streams.Error) { $errs.Add($e.ToString()) }
        $last = $rs.SessionStateProxy.GetVariable('LASTEXITCODE')
        if ($last -is [int]) { $code = $last } elseif ($ps.HadErrors) { $code = 1 }
    } catch {
        $ex = $_.Exception
        while ($ex.InnerException) { $ex = $ex.InnerException }
        $errs.Add($ex.Message)
        $code = 1
    } finally {
        if ($ps) { $ps.Dispose() }
    }
    $doc = @{ 'id' = $id; 'output' = $output; 'errors' = $errs.ToArray(); 'exit' = $code; 'ms' = $sw.ElapsedMilliseconds }
    $json = ConvertTo-Json -InputObject $doc -Compress -Depth 3
    $stdout.WriteLine('BEGIN ' + $id)
    $stdout.WriteLine([Convert]::ToBase64String($utf8.GetBytes($json)))
    $stdout.WriteLine('END ' + $id)
    $stdout.Flush()
    $rs.Dispose()
    $rs = New-LoopRunspace
}
$rs.Dispose()
exit 0
