// Package winrmsim runs a simulated fleet of Windows hosts on loopback, each
// on its own TCP port, speaking WS-Management (SOAP 1.2 over HTTP) the way
// the Windows WinRM service does, so that an unmodified WinRM client
// (github.com/masterzen/winrm) can create shells, run commands, feed stdin,
// receive output and delete shells against it.
//
// It is the stand-in for Windows machines in tests, benchmarks and
// `rmm --demo`, modelled on net/http/httptest: a test server next to the
// client. One Fleet holds any number of hosts (10,000 in one process is the
// design point): per-host state is a few hundred bytes, one epoll set
// accepts for every host's listener on Linux (elsewhere, one goroutine per
// listener), a lean HTTP/1.1 server answers (httpd.go), and nothing else
// runs per host. Command costs (powershell.exe start, script run time) are
// scheduled as future output instead of sleeping goroutines, so a slow
// simulated host never holds up a connection's goroutine, and the resident
// PowerShell loop rmm keeps per shell (loop.go) answers framed requests on
// stdin the same way. Hosts can be made to misbehave on purpose
// (hostfaults.go: refuse, hang, HTTP 500, malformed XML, loop crash, hang
// or no loop), and every host counts its requests by action, its shells
// and its loops (stats.go) for tests and the benchmark.
//
// What it owns: the simulated hosts (identity, metrics curves, shells,
// commands), the WS-Management protocol layer, and the fleet's listeners.
//
// What it must not do: import anything of rmm's engine (it plays the
// Windows side, not the console), listen on anything but 127.0.0.0/8, or
// keep goroutines alive after Close.
package winrmsim
