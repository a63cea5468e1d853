package cmd

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// usageErrors makes every way of calling a command wrongly exit 2 (bad
// input, as the README promises) with the command's usage: an unknown
// flag or a bad flag value, a wrong number of arguments, an unknown
// command (with "did you mean"). Newcomer B9: these exited 1.
func usageErrors(root *cobra.Command) {
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return exitError{2, fmt.Errorf("%w (%s --help)", err, c.CommandPath())}
	})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		check := c.Args
		if check == nil {
			check = cobra.ArbitraryArgs
		}
		c.Args = func(cmd *cobra.Command, args []string) error {
			if cmd.HasAvailableSubCommands() && len(args) > 0 {
				if err := check(cmd, args); err != nil {
					return unknownCommand(cmd, args[0])
				}
				return nil
			}
			if err := check(cmd, args); err != nil {
				return exitError{2, fmt.Errorf("%s: %w (usage: %s)", strings.TrimPrefix(cmd.CommandPath(), root.Name()+" "), err, cmd.UseLine())}
			}
			return nil
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// unknownCommand is the error for `rmm devcies`: what was typed, the
// nearest commands, where the list is.
func unknownCommand(cmd *cobra.Command, typed string) error {
	msg := fmt.Sprintf("unknown command %q for %q", typed, cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(typed); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return exitError{2, fmt.Errorf("%s (%s --help lists the commands)", msg, cmd.CommandPath())}
}
