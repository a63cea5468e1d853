package engine

import (
	"fmt"
	"strings"
	"time"
)

// Level is how far a value is past its thresholds.
type Level int

// Levels, in order.
const (
	LevelOK Level = iota
	LevelWarning
	LevelCritical
)

// String names the level: ok, warning, critical.
func (l Level) String() string {
	switch l {
	case LevelWarning:
		return "warning"
	case LevelCritical:
		return "critical"
	}
	return "ok"
}

// levelOf says where v stands against a warning and a critical threshold
// (at or above counts).
func levelOf(v, warn, crit float64) Level {
	switch {
	case v >= crit:
		return LevelCritical
	case v >= warn:
		return LevelWarning
	}
	return LevelOK
}

// diskUsedPct turns the free % the metrics script reports into used %.
func diskUsedPct(freePct float64) float64 { return 100 - freePct }

// sustain follows one metric across polls: since when it has been at or
// above the warning and the critical threshold without a break.
type sustain struct {
	warnSince time.Time // zero: below warning at the last observation
	critSince time.Time // zero: below critical at the last observation
}

// observe records value v seen at at, and returns its level now and the
// level it has held for at least need (the sustained level).
func (s *sustain) observe(v, warn, crit float64, need time.Duration, at time.Time) (now, held Level) {
	now = levelOf(v, warn, crit)
	if now >= LevelWarning {
		if s.warnSince.IsZero() {
			s.warnSince = at
		}
	} else {
		s.warnSince = time.Time{}
	}
	if now == LevelCritical {
		if s.critSince.IsZero() {
			s.critSince = at
		}
	} else {
		s.critSince = time.Time{}
	}
	switch {
	case !s.critSince.IsZero() && at.Sub(s.critSince) >= need:
		held = LevelCritical
	case !s.warnSince.IsZero() && at.Sub(s.warnSince) >= need:
		held = LevelWarning
	}
	return now, held
}

// reset forgets the run: a failed poll breaks the continuity.
func (s *sustain) reset() { *s = sustain{} }

// pendingRebootBreach reports a reboot pending for longer than limit.
// since is when the reboot was first seen pending; zero when unknown
// (then only its being pending is known, not for how long: no breach).
func pendingRebootBreach(pending bool, since, at time.Time, limit time.Duration) (bool, string) {
	if !pending || since.IsZero() {
		return false, ""
	}
	if age := at.Sub(since); age > limit {
		return true, fmt.Sprintf("reboot pending for %s (limit %s)", roundAge(age), roundAge(limit))
	}
	return false, ""
}

// signaturesBreach reports Defender signatures older than limit. A zero
// updated time means not collected: no breach.
func signaturesBreach(updated, at time.Time, limit time.Duration) (bool, string) {
	if updated.IsZero() {
		return false, ""
	}
	if age := at.Sub(updated); age > limit {
		return true, fmt.Sprintf("Defender signatures %s old (limit %s)", roundAge(age), roundAge(limit))
	}
	return false, ""
}

// stoppedServices returns the watched services (in watched's order) whose
// collected state is not Running. A watched service the host does not
// have is not judged: a watch list is per group, and not every host of a
// group need run every service; the inventory shows what is missing.
func stoppedServices(watched []string, states map[string]string) []string {
	var out []string
	for _, w := range watched {
		for name, state := range states {
			if strings.EqualFold(name, w) {
				if !strings.EqualFold(state, "Running") {
					out = append(out, w)
				}
				break
			}
		}
	}
	return out
}

// roundAge prints a duration the way an admin reads an age: 9d, 5h, 7m.
func roundAge(d time.Duration) string {
	switch {
	case d >= oneDay:
		return fmt.Sprintf("%dd", int(d/oneDay))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	case d >= time.Minute:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	}
	return fmt.Sprintf("%ds", int(d/time.Second))
}

// oneDay is 24 hours, for limits stated in days.
const oneDay = 24 * time.Hour
