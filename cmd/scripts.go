package cmd

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/engine"
)

// parseParamSpec reads --param NAME:TYPE[:DEFAULT][:required]; TYPE is
// string, int, bool, path, file or choice=a|b|c.
func parseParamSpec(s string) (engine.ParamSpec, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 4 || parts[0] == "" {
		return engine.ParamSpec{}, fmt.Errorf("--param %q: want NAME:TYPE[:DEFAULT][:required]", s)
	}
	p := engine.ParamSpec{Name: parts[0], Type: parts[1]}
	if t, choices, ok := strings.Cut(parts[1], "="); ok {
		p.Type, p.Choices = t, strings.Split(choices, "|")
	}
	if len(parts) >= 3 {
		p.Default = parts[2]
	}
	if len(parts) == 4 {
		if parts[3] != "required" {
			return engine.ParamSpec{}, fmt.Errorf("--param %q: the fourth part may only be \"required\"", s)
		}
		p.Required = true
	}
	return p, nil
}

func (a *app) scriptsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scripts",
		Short: "The script library: add a script version, list, show",
		Long: `Library scripts are PowerShell 5.1 scripts stored in the database with a
name, a description, typed parameters and a timeout. Adding a script under an
existing name makes a new version; the old versions are kept. Run one with
rmm action run run-script --param script=NAME [--param version=N]
[--param PARAM=VALUE ...]; each device's result records the version used.

Parameters reach the script as variables: rmm puts one line
$NAME = 'VALUE' (single-quoted, quotes doubled) per declared parameter
before the body. The result's message is the last line of output when the
script exits 0, else its first error line.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(a.scriptsAddCommand(), a.scriptsListCommand(), a.scriptsShowCommand())
	return cmd
}

func (a *app) scriptsAddCommand() *cobra.Command {
	var (
		name, description string
		params            []string
		timeout           time.Duration
		asJSON            bool
	)
	cmd := &cobra.Command{
		Use:   "add FILE",
		Short: "Add a script (or a new version of it) to the library",
		Long: `Add FILE's text as the next version of script --name (version 1 when new).
Admin only; audited (the body's size, not its text).

--param NAME:TYPE[:DEFAULT][:required] declares a parameter, repeatable. NAME
is a PowerShell variable name; TYPE is string, int, bool, path, file or
choice=a|b|c. --timeout (default 5m) bounds one device's run.

--json prints {name, version, description, params, timeout_ns, created_by,
created_at, body}.`,
		Example: `  rmm scripts add cleanup.ps1 --name cleanup --description "old logs" --param Days:int:30 --param Path:path::required`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return exitError{2, fmt.Errorf("--name is required")}
			}
			body, err := os.ReadFile(args[0])
			if err != nil {
				return exitError{2, fmt.Errorf("read script: %w", err)}
			}
			var specs []engine.ParamSpec
			for _, s := range params {
				p, err := parseParamSpec(s)
				if err != nil {
					return exitError{2, err}
				}
				specs = append(specs, p)
			}
			if err := engine.CheckParamSpecs(specs); err != nil {
				return exitError{2, err}
			}
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				s, err := engine.Call(cmd.Context(), eng, id, engine.AddScript{Name: name, Description: description,
					Body: strings.TrimPrefix(string(body), "\ufeff"), Params: specs, Timeout: timeout})
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, s)
				}
				fmt.Fprintf(a.stdout, "script %s version %d added (%d bytes, %d parameters)\n", s.Name, s.Version, len(s.Body), len(s.Params))
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "the script's name (required)")
	fl.StringVar(&description, "description", "", "what it does")
	fl.StringArrayVar(&params, "param", nil, "NAME:TYPE[:DEFAULT][:required] (repeatable)")
	fl.DurationVar(&timeout, "timeout", 5*time.Minute, "how long one device's run may take")
	fl.BoolVar(&asJSON, "json", false, "print the new version as JSON")
	return cmd
}

func (a *app) scriptsListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the library: the latest version of each script",
		Long: `List the latest version of each library script. --json prints an array of
{name, version, description, params, timeout_ns, created_by, created_at, body}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				ss, err := engine.Call(cmd.Context(), eng, id, engine.ListScripts{})
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, ss)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tVERSION\tTIMEOUT\tPARAMETERS\tBY\tADDED\tDESCRIPTION")
				for _, s := range ss {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Version, s.Timeout, paramSummary(s.Params),
						s.CreatedBy, s.CreatedAt.Local().Format("2006-01-02 15:04"), s.Description)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%d scripts\n", len(ss))
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func (a *app) scriptsShowCommand() *cobra.Command {
	var (
		version int
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a library script's body and parameters (the latest version, or --version N)",
		Long:  `Show one version of a library script (default the latest) and the versions that exist. --json prints that version as in rmm scripts add --json.`,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if version < 0 {
				return exitError{2, fmt.Errorf("--version %d: want 1 or more", version)}
			}
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				all, err := engine.Call(cmd.Context(), eng, id, engine.ListScripts{Name: args[0]}) // newest first
				if err != nil {
					return err
				}
				s := all[0]
				if version > 0 {
					found := false
					for _, v := range all {
						if v.Version == version {
							s, found = v, true
						}
					}
					if !found {
						return fmt.Errorf("script %s has no version %d (it has 1..%d)", args[0], version, all[0].Version)
					}
				}
				if asJSON {
					return writeJSON(a.stdout, s)
				}
				fmt.Fprintf(a.stdout, "script %s version %d of %d, by %s on %s, timeout %s\n", s.Name, s.Version, all[0].Version,
					s.CreatedBy, s.CreatedAt.Local().Format("2006-01-02 15:04"), s.Timeout)
				if s.Description != "" {
					fmt.Fprintf(a.stdout, "description: %s\n", s.Description)
				}
				fmt.Fprintf(a.stdout, "parameters: %s\n", paramSummary(s.Params))
				fmt.Fprintln(a.stdout, "---")
				fmt.Fprint(a.stdout, s.Body)
				if !strings.HasSuffix(s.Body, "\n") {
					fmt.Fprintln(a.stdout)
				}
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&version, "version", 0, "the version to show (default the latest)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
