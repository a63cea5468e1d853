// Package winrmsim runs a simulated fleet of Windows hosts on loopback, each
// on its own TCP port, speaking WS-Management (SOAP 1.2 over HTTP) the way
// the Windows WinRM service does, so that an unmodified WinRM client
// (github.com/masterzen/winrm) can create shells, run commands, feed stdin,
// receive output and delete shells against it.
//
// It is the stand-in for Windows machines in tests, benchmarks and
// `rmm --demo`, modelled on net/http/httptest: a test server next to the
// client. One Fleet holds any number of hosts (10,000 in one process is the
// design point): per-host state is a few hundred bytes, one http.Server
// serves every host's listener, and nothing runs per host except the accept
// loop net/http needs for an open port. Command costs (powershell.exe start,
// script run time) are scheduled as future output instead of sleeping
// goroutines, so a slow simulated host never holds up an HTTP handler.
//
// What it owns: the simulated hosts (identity, metrics curves, shells,
// commands), the WS-Management protocol layer, and the fleet's listeners.
//
// What it must not do: import anything of rmm's engine (it plays the
// Windows side, not the console), listen on anything but 127.0.0.0/8, or
// keep goroutines alive after Close.
package winrmsim
