//go:build race

package filter

// raceDetector is true under -race, where building 10,000 hosts' facts
// takes a minute and tells nothing the race detector is for.
const raceDetector = true
