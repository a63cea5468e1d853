package cmd

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/engine"
)

func (a *app) doctorCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor HOST",
		Short: "Diagnose step by step why a host can or cannot be managed, with the fix",
		Long: `Check, in order, what rmm needs to manage a host, and print the fix for the
step that fails: the device record (transport, port, auth method), the
unencrypted policy against the transport (Basic or Kerberos over plain HTTP
needs AllowUnencrypted), name resolution, TCP to the WinRM port (and whether
the other port answers instead), TLS with the device's CA bundle (chain,
host name, days to expiry; verified and reported even for a device that
skips verification), WS-Man Identify, the credential rmm would use,
authentication with the device's method (basic, ntlm, kerberos), creating a
shell (and the shell quota), the PowerShell version, and the resident
PowerShell loop. When the policy refuses the transport, the network and TLS
are still checked, but no credential is sent.

HOST is a device's hostname (its address, port and transport come from the
database) or an address not in the database (HTTPS 5986 is assumed).
Exit status 0 when no step failed, 5 when one did. Operator or Admin.

--json prints {"host","endpoint","ok","steps":[{"name","status","detail","fix","took_ms"}]}
with status ok, warn, fail or skipped.`,
		Example: `  rmm doctor WS-0042
  rmm doctor 10.0.4.17 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cred, vault, err := a.pollCredentials()
			if err != nil && !errors.Is(err, errNoCredential) {
				return err
			}
			if vault != nil {
				defer vault.Close()
			}
			id, err := a.localIdentity(engine.ViaCLI)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			db, eng, err := a.openEngine(ctx, cred, vault, 0)
			if err != nil {
				return err
			}
			defer db.Close()
			defer eng.Close()
			rep, err := engine.Call(ctx, eng, id, engine.Diagnose{Host: args[0]})
			if err != nil {
				return err
			}
			return a.printDoctor(rep, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// printDoctor prints a doctor report and turns a failed step into exit 5.
func (a *app) printDoctor(rep engine.DoctorReport, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.stdout, "rmm doctor %s (%s)\n", rep.Host, rep.Endpoint)
		for _, s := range rep.Steps {
			fmt.Fprintf(a.stdout, "  [%-4s] %-20s %s\n", stepMark(s.Status), s.Name, s.Detail)
			if s.Fix != "" && s.Status != "ok" {
				fmt.Fprintf(a.stdout, "         %-20s fix: %s\n", "", s.Fix)
			}
		}
	}
	if !rep.OK {
		return exitError{5, fmt.Errorf("doctor %s: a step failed (see above)", rep.Host)}
	}
	return nil
}

func stepMark(status string) string {
	switch status {
	case "ok":
		return "ok"
	case "warn":
		return "WARN"
	case "fail":
		return "FAIL"
	}
	return "skip"
}
