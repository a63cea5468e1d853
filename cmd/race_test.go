//go:build race

package cmd

// raceEnabled reports whether the tests run under the race detector,
// where a 10,000-host child process runs several times slower.
const raceEnabled = true
