# rmm:script=loop v2
# The resident PowerShell loop: rmm keeps one in each pooled WinRM shell
# and feeds it requests over stdin, so a warm poll pays no powershell.exe
# start. rmm starts powershell.exe with a short fixed bootstrap
# (loopBootstrap in loop.go) that reads this script, base64 of its UTF-8
# text, from the first line of stdin and runs it; nothing of it is on the
# command line. Full-line comments are stripped before it is sent.
# WINRS_CONSOLEMODE_STDIN=FALSE and WINRS_SKIP_CMD_SHELL=TRUE; never
# -Command - or -File - (they run stdin statement by statement, drop an
# unterminated multi-line statement, and 5.1 can hang on piped stdin).
#
# Framing protocol (engine/winrm/loop.go and engine/winrmsim/loop.go
# follow the same; change all three together and bump the version):
#   start:   print "READY loop v2" and flush.
#   request: one ASCII line "<id> <base64 of the UTF-8 script>", id
#            matching [A-Za-z0-9-]{1,64}. "<id> EXIT" ends the loop with
#            exit code 0, as does the end of stdin. Other lines are ignored.
#   answer:  exactly three lines, then a flush:
#              BEGIN <id>
#              <base64 of UTF-8 JSON {"id","output","errors","warnings","info","exit","ms"}>
#              END <id>
#
# How a script runs (Windows PowerShell 5.1 semantics, see
# ../shared/research/fidelity-review.md F1, F4, F9):
#   - In a fresh runspace (STA, like powershell.exe), invoked without
#     Out-String in its pipeline: an `exit` in it would throw past
#     Out-String and lose everything it printed. Its output objects are
#     formatted afterwards with Out-String -Width 4096.
#   - A terminating error is caught around the script and written as an
#     error record, so the output printed before it is kept.
#   - A script that contains an `exit` statement runs as a script file
#     (a temp .ps1, removed after), because only a script file turns
#     `exit N` into $LASTEXITCODE; elsewhere 5.1 hands the code to the
#     runspace's host and drops it.
#   - exit: N when the script ran `exit N`; else 1 when it wrote error
#     records, else 0. Never from HadErrors (set by suppressed errors too)
#     nor from the last native command's $LASTEXITCODE.
#   - warnings: the warning stream; info: the information stream
#     (Write-Host and Write-Information), which a runspace without a UI
#     would drop.
#   - Native programs it starts inherit the loop's stdin: a tool that
#     prompts would read the next request line. rmm's own scripts pipe
#     input into every native call; library scripts must do the same.
$ErrorActionPreference = 'Continue'
$ProgressPreference = 'SilentlyContinue'
$utf8 = New-Object System.Text.UTF8Encoding $false
$utf8Bom = New-Object System.Text.UTF8Encoding $true
$stdin = [Console]::In
$stdout = [Console]::Out
$wrapper = 'param($s, $f) try { if ($f) { & $f } else { & ([scriptblock]::Create($s)) } } catch { Write-Error -ErrorRecord $_ }'
function New-LoopRunspace {
    $r = [runspacefactory]::CreateRunspace()
    $r.ApartmentState = 'STA'
    $r.Open()
    $r.SessionStateProxy.SetVariable('ProgressPreference', 'SilentlyContinue')
    $r
}
$rs = New-LoopRunspace
$stdout.WriteLine('READY loop v2')
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
    $warns = New-Object 'System.Collections.Generic.List[string]'
    $info = New-Object 'System.Collections.Generic.List[string]'
    $output = ''
    $code = 0
    $ps = $null
    $file = $null
    try {
        $script = $utf8.GetString([Convert]::FromBase64String($parts[1]))
        $tokens = $null
        $parseErrors = $null
        $ast = [System.Management.Automation.Language.Parser]::ParseInput($script, [ref]$tokens, [ref]$parseErrors)
        $hasExit = ($parseErrors.Count -eq 0) -and ($null -ne $ast.Find({ param($a) $a -is [System.Management.Automation.Language.ExitStatementAst] }, $true))
        if ($hasExit) {
            $file = Join-Path ([IO.Path]::GetTempPath()) ('rmm-' + $PID + '-' + $id + '.ps1')
            [IO.File]::WriteAllText($file, $script + "`r`n`$global:RmmScriptEnded = `$true`r`n", $utf8Bom)
        }
        $ps = [powershell]::Create()
        $ps.Runspace = $rs
        [void]$ps.AddScript($wrapper).AddArgument($script).AddArgument($file)
        $res = $ps.Invoke()
        $output = [string]($res | Out-String -Width 4096)
        foreach ($e in $ps.Streams.Error) { $errs.Add($e.ToString()) }
        foreach ($w in $ps.Streams.Warning) { $warns.Add($w.Message) }
        foreach ($i in $ps.Streams.Information) { $info.Add([string]$i.MessageData) }
        $ended = $rs.SessionStateProxy.GetVariable('RmmScriptEnded')
        $last = $rs.SessionStateProxy.GetVariable('LASTEXITCODE')
        if ($hasExit -and -not $ended -and $last -is [int]) { $code = $last } elseif ($errs.Count -gt 0) { $code = 1 }
    } catch {
        $ex = $_.Exception
        while ($ex.InnerException) { $ex = $ex.InnerException }
        $errs.Add($ex.Message)
        $code = 1
    } finally {
        if ($ps) { $ps.Dispose() }
        if ($file) { Remove-Item -LiteralPath $file -Force -ErrorAction SilentlyContinue }
    }
    $doc = @{ 'id' = $id; 'output' = $output; 'errors' = $errs.ToArray(); 'warnings' = $warns.ToArray(); 'info' = $info.ToArray(); 'exit' = $code; 'ms' = $sw.ElapsedMilliseconds }
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
