//go:build !unix

package cmd

// fileLimit is not known here (Windows has no descriptor limit of this
// kind): the demo plans for every host.
func fileLimit() (soft, hard uint64, ok bool) { return 0, 0, false }
