//go:build race

package relay

// raceEnabled reports whether the tests run under the race detector.
const raceEnabled = true
