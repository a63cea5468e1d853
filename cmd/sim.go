package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/engine/bench"
	"github.com/rmmhq/rmm/engine/winrmsim"
)

func (a *app) simCommand() *cobra.Command {
	var (
		cfg         winrmsim.Config
		exportCSV   string
		controlAddr string
		https       bool
		caOut       string
		readyFile   string
		keytabFile  string
	)
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run a simulated Windows fleet on loopback",
		Long: fmt.Sprintf(`Run N simulated Windows hosts on 127.0.0.1, each on its own port, speaking
WS-Management over HTTP like Windows WinRM: Identify, shells, commands,
Receive, Signal, Delete and Windows' SOAP faults, with Basic auth. Each host
has its own name, OS (Windows 10/11, Server 2016-2025), site, tags and
CPU, memory and disk values that move over time, and answers rmm's scripts
as the real scripts would, including rmm's resident PowerShell loop (one
powershell.exe per shell fed over stdin: --ps-start is paid once when it
starts, --script-time per request).

--faults makes a share of the hosts, chosen by seed, misbehave: refuse
(port closed), hang (takes the request, never answers), http500 (500
without a WS-Man fault), malformed (200 with broken XML), no-loop (the
resident loop cannot start), loop-crash and loop-hang (once each),
access-denied (the account is refused after it authenticated), disk-full (a few
MB free: Windows Update fails downloads with 0x80070070) and task-stuck
(scheduled tasks never start).

Each host has a Windows Update state that follows its release, its patch
level (--patch-behind puts every host 1 or 2 months behind) and its display
language: missing and installed updates of every classification, some that
fail with the HRESULT Windows gives, WSUS-managed hosts. rmm's patch task
installs in --patch-install-time per update; a restart completes what waits
for it, and servicing stays busy for --servicing-time after it.

--profile picks the kinds of host: modern (the default: Windows 10/11 and
Server 2016-2025, by seed), mixed (those and, by seed, the profiles that
break assumptions: Server Core, 2012 R2, de-DE, Constrained Language,
domain-joined), or
one or more profile names separated by commas:
%s
Each is as strict as that kind of Windows host: cmd.exe refuses command
lines of 8,191 characters and CreateProcess those of 32,767; requests
over MaxEnvelopeSizekb (500 KB; 150 KB on 2012 R2) get the 0x80338111
fault; every Command counts against the operations quota (1500 per
shell; 15 on 2012 R2) until the shell is deleted; rmm's resident loop
keeps or loses output and exit codes as Windows PowerShell 5.1 does for
its version. Basic over plain HTTP is refused (401) unless
--allow-unencrypted, which is on by default because the hosts serve HTTP
unless --https.

Hosts answer rmm's action scripts with real state changes: services,
processes, sessions, RDP, a virtual registry and disk. A reboot takes the
host off the network for --reboot-downtime and brings it back with a new
boot time; a shut-down host waits for a Wake-on-LAN magic packet with its
MAC on the --wake UDP listener (loopback). --control serves an HTTP/JSON
endpoint (loopback) to take hosts offline, reboot, shut down, wake and set
faults: GET / on it lists the routes.

--https serves WS-Management over TLS (WinRM's 5986 listener) with
certificates for each hostname from a test CA generated at start;
--ca-out FILE writes that CA's certificate (PEM) so rmm can trust it:
set winrm.ca_bundle to FILE. The exported CSV then says Transport https.

--domain REALM joins the hosts of the "domain" profile (--profile domain,
or mixed, which draws some) to a simulated Active Directory domain: their
FQDN is <host>.<realm in lower case>, Basic is off, they take Negotiate
(NTLM for --user with --password, and Kerberos) and Kerberos, and over
HTTP they take only sealed messages (WinRM message encryption) and seal
their replies; a readable message gets HTTP 500, as Windows answers.
--keytab FILE holds the keys of their SPNs, HTTP/<fqdn>@REALM (kadmin's
ktadd or ktpass export it); without it they take NTLM only. --kdc
HOST:PORT names the domain's KDC, for what the simulator prints: set
winrm.kerberos_kdc to it. Every host, joined or not, takes NTLM for its
local account --user, as Windows' default does.

--export-csv writes the hosts as a CSV that rmm import reads, then the
fleet serves until interrupted (Ctrl+C). With --base-port the ports stay
the same from run to run, so an imported CSV keeps working.

--ready-file FILE writes one JSON object once every host, the control
endpoint and the CSV are ready: {"pid", "control", "csv", "hosts", "wake"},
with control the endpoint's URL and wake the Wake-on-LAN listener (so --control 127.0.0.1:0 can pick a free
port). rmm bench sweep starts its simulator child this way.

Defaults: --user %s, --password %s (loopback test credentials, not secrets).`,
			profileHelp(), winrmsim.DefaultUser, winrmsim.DefaultPassword),
		Example: `  rmm sim --devices 50 --seed 7 --export-csv fleet.csv &
  rmm import fleet.csv
  RMM_WINRM_USER=rmm RMM_WINRM_PASSWORD=rmm-sim-password rmm poll --once --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Devices < 1 || cfg.Devices > 100000 {
				return exitError{2, fmt.Errorf("--devices %d is out of range 1..100000", cfg.Devices)}
			}
			if cfg.Seed == 0 {
				cfg.Seed = time.Now().UnixNano()
			}
			if controlAddr != "" {
				if err := winrmsim.CheckLoopbackAddr(controlAddr); err != nil {
					return exitError{2, fmt.Errorf("--control: %w", err)}
				}
			}
			if caOut != "" && !https {
				return exitError{2, fmt.Errorf("--ca-out needs --https")}
			}
			if https {
				cfg.TLS = &winrmsim.TLSOptions{}
			}
			if keytabFile != "" {
				kt, err := os.ReadFile(keytabFile)
				if err != nil {
					return exitError{2, fmt.Errorf("--keytab: %w", err)}
				}
				cfg.Keytab = kt
			}
			if (cfg.KDC != "" || keytabFile != "") && cfg.Domain == "" {
				return exitError{2, fmt.Errorf("--kdc and --keytab need --domain REALM")}
			}
			if cfg.Domain != "" && cfg.Profile == winrmsim.ProfileModern {
				cfg.Profile = "domain" // a domain without joined hosts serves nothing
			}
			// A host's listener and the connection a client keeps to it
			// are two descriptors; short of them, connections are refused.
			if err := bench.RaiseFileLimit(uint64(2*cfg.Devices + 256)); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v; clients that keep a connection to every host will see some refused\n", err)
			}
			fleet, err := winrmsim.New(cfg)
			if err != nil {
				return exitError{2, fmt.Errorf("sim: %w", err)}
			}
			if caOut != "" {
				if err := writeFileAtomic(caOut, func(w io.Writer) error {
					_, err := w.Write(fleet.CA().CertPEM())
					return err
				}); err != nil {
					return fmt.Errorf("sim: write CA certificate: %w", err)
				}
			}
			ctx := cmd.Context()
			if err := fleet.Start(ctx); err != nil {
				if errors.Is(err, syscall.EADDRINUSE) && cfg.BasePort != 0 {
					return fmt.Errorf("sim: %w: another program listens in %d..%d; choose another --base-port, "+
						"or leave --base-port out and free ports are picked (import the new CSV then)", err, cfg.BasePort, cfg.BasePort+cfg.Devices-1)
				}
				return fmt.Errorf("sim: %w", err)
			}
			defer fleet.Close()
			var ctlURL string
			if controlAddr != "" {
				stop, url, err := serveSimControl(controlAddr, fleet.ControlHandler())
				if err != nil {
					return fmt.Errorf("sim: %w", err)
				}
				defer stop()
				ctlURL = url
			}
			hosts := fleet.Hosts()
			online := 0
			for _, h := range hosts {
				if h.Online {
					online++
				}
			}
			if exportCSV != "" {
				if err := writeFileAtomic(exportCSV, fleet.WriteCSV); err != nil {
					return fmt.Errorf("sim: export CSV: %w", err)
				}
			}
			first, last := hosts[0], hosts[len(hosts)-1]
			fmt.Fprintf(a.stdout, "serving %d simulated hosts (%d online) on %s, ports %d..%d, seed %d, user %s\n",
				len(hosts), online, first.IP, first.Port, last.Port, cfg.Seed, userOrDefault(cfg.User))
			if exportCSV != "" {
				fmt.Fprintf(a.stdout, "wrote %s: import it with: rmm import %s\n", exportCSV, exportCSV)
			}
			if caOut != "" {
				fmt.Fprintf(a.stdout, "HTTPS with a test CA; wrote its certificate to %s: set winrm.ca_bundle: %s\n", caOut, caOut)
			}
			fmt.Fprintf(a.stdout, "wake-on-LAN listener on udp %s\n", fleet.WakeAddr())
			if ctlURL != "" {
				fmt.Fprintf(a.stdout, "control endpoint on %s (GET %s/ lists the routes)\n", ctlURL, ctlURL)
			}
			if d, ok := fleet.Domain(); ok {
				how := "NTLM only (no --keytab)"
				if d.Keytab {
					how = "Kerberos and NTLM"
				}
				fmt.Fprintf(a.stdout, "domain %s (%s): joined hosts take %s for %s@%s or %s\\%s, sealed over HTTP\n",
					d.Realm, d.NetBIOS, how, userOrDefault(cfg.User), d.Realm, d.NetBIOS, userOrDefault(cfg.User))
				if d.KDC != "" {
					fmt.Fprintf(a.stdout, "KDC %s: set winrm.kerberos_kdc: %s\n", d.KDC, d.KDC)
				}
			}
			if readyFile != "" {
				if err := writeSimReady(readyFile, winrmsim.Ready{PID: os.Getpid(), Control: ctlURL, CSV: exportCSV, Hosts: len(hosts), Wake: fleet.WakeAddr()}); err != nil {
					return fmt.Errorf("sim: ready file: %w", err)
				}
			}
			fmt.Fprintln(a.stdout, "press Ctrl+C to stop")
			<-ctx.Done()
			s := fleet.Stats()
			fmt.Fprintf(a.stdout, "stopped: %d requests, %d shells created, %d open, %d resident PowerShell loops started\n",
				s.Requests, s.ShellsCreated, s.ShellsOpen, s.LoopStarts)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Devices, "devices", 200, "number of simulated hosts")
	f.Int64Var(&cfg.Seed, "seed", 0, "seed: the same seed gives the same fleet (0: random)")
	f.StringVar(&cfg.User, "user", winrmsim.DefaultUser, "Basic auth user the hosts accept")
	f.StringVar(&cfg.Password, "password", winrmsim.DefaultPassword, "Basic auth password the hosts accept")
	f.IntVar(&cfg.BasePort, "base-port", 0, "host i listens on base-port+i (0: free ports picked from 20000-32767)")
	f.Float64Var(&cfg.OfflineFraction, "offline", 0, "share of hosts that start offline (connection refused), 0..1")
	f.DurationVar(&cfg.RTT, "rtt", 0, "added latency per request")
	f.DurationVar(&cfg.PSStart, "ps-start", 400*time.Millisecond, "cost of starting powershell.exe")
	f.DurationVar(&cfg.ScriptTime, "script-time", 250*time.Millisecond, "run time of a recognised rmm script")
	f.DurationVar(&cfg.CommandTime, "command-time", 0, "run time of a typed command (a script without rmm's marker line, rmm run)")
	f.StringVar(&cfg.Faults, "faults", "", `hosts that misbehave, chosen by seed: e.g. "refuse=2%,hang=1%,http500=1%,malformed=1%" (also no-loop, loop-crash, loop-hang, access-denied, disk-full, task-stuck)`)
	f.StringVar(&exportCSV, "export-csv", "", "write the hosts as CSV for rmm import")
	f.BoolVar(&https, "https", false, "serve HTTPS with certificates from a generated test CA")
	f.StringVar(&caOut, "ca-out", "", "with --https: write the test CA's certificate (PEM) to this file, for winrm.ca_bundle")
	f.StringVar(&controlAddr, "control", "", "serve the HTTP control endpoint on this loopback IP:port (e.g. 127.0.0.1:5990)")
	f.StringVar(&cfg.WakeListen, "wake", "", "loopback UDP IP:port for Wake-on-LAN magic packets (default: a free port on 127.0.0.1)")
	f.StringVar(&readyFile, "ready-file", "", `when serving, write {"pid","control","csv","hosts","wake"} (JSON) to this file`)
	f.DurationVar(&cfg.RebootDowntime, "reboot-downtime", winrmsim.DefaultRebootDowntime, "how long a rebooting host stays unreachable")
	f.DurationVar(&cfg.PatchInstallTime, "patch-install-time", winrmsim.DefaultPatchInstallTime, "how long one Windows update takes to download and install in a patch task")
	f.DurationVar(&cfg.ServicingTime, "servicing-time", winrmsim.DefaultServicingTime, "how long servicing stays busy (ServicingInProgress 2) after a restart that completed installs")
	f.IntVar(&cfg.PatchBehind, "patch-behind", 0, "put every host 1 or 2 months behind on its Windows updates (0: each host's own level)")
	f.StringVar(&cfg.Profile, "profile", winrmsim.ProfileModern, "kinds of host: modern, mixed, or profile names separated by commas (see above)")
	f.BoolVar(&cfg.AllowUnencrypted, "allow-unencrypted", true, "hosts accept Basic over plain HTTP (Windows' default refuses it; false models that)")
	f.StringVar(&cfg.Domain, "domain", "", `join the "domain" profile's hosts to this realm (e.g. RMMLAB.TEST): Basic off, Negotiate/Kerberos/NTLM sealed over HTTP`)
	f.StringVar(&cfg.KDC, "kdc", "", "with --domain: the domain's KDC, HOST:PORT (printed for winrm.kerberos_kdc)")
	f.StringVar(&keytabFile, "keytab", "", "with --domain: keytab with the keys of HTTP/<fqdn>@REALM of the joined hosts")
	f.BoolVar(&cfg.JoinedBasic, "domain-basic", false, "with --domain: the joined hosts take Basic too (as with Basic=\"true\" on the service)")
	return cmd
}

// profileHelp lists the simulator's host profiles, one per line.
func profileHelp() string {
	var b strings.Builder
	for _, p := range winrmsim.Profiles() {
		fmt.Fprintf(&b, "  %-13s %s\n", p.Name, p.Summary)
	}
	return strings.TrimRight(b.String(), "\n")
}

// serveSimControl serves the simulator's control endpoint on a loopback
// address. stop shuts the server down and waits for its goroutine.
func serveSimControl(addr string, h http.Handler) (stop func(), url string, err error) {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return nil, "", fmt.Errorf("control endpoint: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // returns http.ErrServerClosed on stop
	}()
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}
	return stop, "http://" + ln.Addr().String(), nil
}

// writeSimReady writes the --ready-file (winrmsim.Ready) atomically.
func writeSimReady(path string, r winrmsim.Ready) error {
	return writeFileAtomic(path, func(w io.Writer) error { return json.NewEncoder(w).Encode(r) })
}

func userOrDefault(u string) string {
	if strings.TrimSpace(u) == "" {
		return winrmsim.DefaultUser
	}
	return u
}

// writeFileAtomic writes through a temp file and a rename, so a reader
// never sees half a file.
func writeFileAtomic(path string, write func(w io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".rmm-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
