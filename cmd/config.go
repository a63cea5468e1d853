package cmd

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/config"
)

func (a *app) configCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show the effective config or check a config file",
		Long: `Show the effective configuration (defaults, overridden by the config file
and flags) or check a config file without using it. No secret is ever part
of the config: credentials live in the keyring or the vault.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration as YAML, with each key's default",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprint(a.stdout, renderConfig(a.cfg))
			return nil
		},
	}
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a config file; print every problem with its line",
		Long: `Validate a config file and print every problem as FILE:LINE: key: reason.
Exit status 0 when valid, 2 when not.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := config.Load(args[0], a.dirs, false); err != nil {
				return exitError{2, err}
			}
			fmt.Fprintf(a.stdout, "%s: ok\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(show, check)
	return cmd
}

// renderConfig prints the effective config as YAML grouped by section,
// each key with its default as a comment.
func renderConfig(c config.Config) string {
	var b strings.Builder
	section := ""
	for _, k := range config.Keys() {
		sec, name := "", k
		if i := strings.IndexByte(k, '.'); i >= 0 {
			sec, name = k[:i], k[i+1:]
		}
		if sec != section {
			if sec != "" {
				fmt.Fprintf(&b, "%s:\n", sec)
			}
			section = sec
		}
		indent := ""
		if sec != "" {
			indent = "  "
		}
		def, doc, _ := config.KeyDoc(k)
		fmt.Fprintf(&b, "%s%s: %s  # default %s; %s\n", indent, name, yamlScalar(c.Value(k)), def, doc)
	}
	return b.String()
}

func yamlScalar(s string) string {
	if s == "" || strings.ContainsAny(s, ":#{}[],&*!|>'\"%@`") || strings.TrimSpace(s) != s {
		return fmt.Sprintf("%q", s)
	}
	return s
}
