//go:build !race

package filter

const raceDetector = false
