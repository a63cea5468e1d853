# rmm:script=loop v3
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
#   start:   print "READY loop v3" and flush.
#   request: one ASCII line "<id> <base64 of the UTF-8 script>" (a fresh
#            runspace), or "<id> SESSION <cols> <base64 ...>" (the
#            session runspace, output <cols> wide, 20..1000); id
#            matching [A-Za-z0-9-]{1,64}. "<id> EXIT" ends the loop with
#            exit code 0, as does the end of stdin. Other lines are ignored.
#   answer:  exactly three lines, then a flush:
#              BEGIN <id>
#              <base64 of UTF-8 JSON {"id","output","errors","warnings","info","exit","ms","session"}>
#              END <id>
#            session: the lines the session runspace has run, this one
#            included (1: it is new); 0 for a fresh-runspace request.
#
# The session runspace (v3; the console's PowerShell pane) is made at the
# first SESSION request and kept until the loop ends: each line is
# dot-sourced into its global scope, so variables, functions and the
# current location carry over from line to line, as in Enter-PSSession.
# A line with `exit` is dot-sourced as a script file (its exit code is
# kept, and so is the state it made).
#
# How a script runs (Windows PowerShell 5.1 semantics, see
# ../shared/research/fidelity-review.md F1, F4, F9):
#   - In a fresh runspace (STA, like powershell.exe; or the session
#     runspace), invoked without Out-String in its pipeline: an `exit`
#     in it would throw past Out-String and lose everything it printed.
#     Its output objects are formatted afterwards with Out-String -Width
#     4096 (a session line: its <cols>).
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
$sessionWrapper = 'param($RmmLine, $RmmFile) try { if ($RmmFile) { . $RmmFile } else { . ([scriptblock]::Create($RmmLine)) } } catch { Write-Error -ErrorRecord $_ } finally { Remove-Variable -Name RmmLine, RmmFile -ErrorAction SilentlyContinue }'
function New-LoopRunspace {
    $r = [runspacefactory]::CreateRunspace()
    $r.ApartmentState = 'STA'
    $r.Open()
    $r.SessionStateProxy.SetVariable('ProgressPreference', 'SilentlyContinue')
    $r
}
$rs = New-LoopRunspace
$session = $null
$sessionLines = 0
$stdout.WriteLine('READY loop v3')
$stdout.Flush()
while ($true) {
    $line = $stdin.ReadLine()
    if ($null -eq $line) { break }
    $parts = $line.Trim().Split(' ')
    if ($parts.Count -lt 2 -or $parts[0] -cnotmatch '^[A-Za-z0-9-]{1,64}$') { continue }
    $id = $parts[0]
    $inSession = $false
    $width = 4096
    if ($parts.Count -eq 2) {
        if ($parts[1] -ceq 'EXIT') { break }
        $b64 = $parts[1]
    } elseif ($parts.Count -eq 4 -and $parts[1] -ceq 'SESSION' -and $parts[2] -match '^[0-9]{2,4}$' -and [int]$parts[2] -ge 20 -and [int]$parts[2] -le 1000) {
        $inSession = $true
        $width = [int]$parts[2]
        $b64 = $parts[3]
    } else { continue }
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $errs = New-Object 'System.Collections.Generic.List[string]'
    $warns = New-Object 'System.Collections.Generic.List[string]'
    $info = New-Object 'System.Collections.Generic.List[string]'
    $output = ''
    $code = 0
    $ps = $null
    $file = $null
    try {
        $script = $utf8.GetString([Convert]::FromBase64String($b64))
        $tokens = $null
        $parseErrors = $null
        $ast = [System.Management.Automation.Language.Parser]::ParseInput($script, [ref]$tokens, [ref]$parseErrors)
        $hasExit = ($parseErrors.Count -eq 0) -and ($null -ne $ast.Find({ param($a) $a -is [System.Management.Automation.Language.ExitStatementAst] }, $true))
        if ($hasExit) {
            $file = Join-Path ([IO.Path]::GetTempPath()) ('rmm-' + $PID + '-' + $id + '.ps1')
            [IO.File]::WriteAllText($file, $script + "`r`n`$global:RmmScriptEnded = `$true`r`n", $utf8Bom)
        }
        $ps = [powershell]::Create()
        if ($inSession) {
            if ($null -eq $session) { $session = New-LoopRunspace; $sessionLines = 0 }
            $sessionLines++
            $target = $session
            $target.SessionStateProxy.SetVariable('RmmScriptEnded', $null)
            [void]$ps.AddScript($sessionWrapper).AddArgument($script).AddArgument($file)
        } else {
            $target = $rs
            [void]$ps.AddScript($wrapper).AddArgument($script).AddArgument($file)
        }
        $ps.Runspace = $target
        $res = $ps.Invoke()
        $output = [string]($res | Out-String -Width $width)
        foreach ($e in $ps.Streams.Error) { $errs.Add($e.ToString()) }
        foreach ($w in $ps.Streams.Warning) { $warns.Add($w.Message) }
        foreach ($i in $ps.Streams.Information) { $info.Add([string]$i.MessageData) }
        $ended = $target.SessionStateProxy.GetVariable('RmmScriptEnded')
        $last = $target.SessionStateProxy.GetVariable('LASTEXITCODE')
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
    $lines = 0
    if ($inSession) { $lines = $sessionLines }
    $doc = @{ 'id' = $id; 'output' = $output; 'errors' = $errs.ToArray(); 'warnings' = $warns.ToArray(); 'info' = $info.ToArray(); 'exit' = $code; 'ms' = $sw.ElapsedMilliseconds; 'session' = $lines }
    $json = ConvertTo-Json -InputObject $doc -Compress -Depth 3
    $stdout.WriteLine('BEGIN ' + $id)
    $stdout.WriteLine([Convert]::ToBase64String($utf8.GetBytes($json)))
    $stdout.WriteLine('END ' + $id)
    $stdout.Flush()
    if (-not $inSession) {
        $rs.Dispose()
        $rs = New-LoopRunspace
    }
}
$rs.Dispose()
if ($session) { $session.Dispose() }
exit 0
