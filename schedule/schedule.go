// Package schedule says when recurring work runs: every fixed interval,
// daily at a wall-clock time, weekly on a day at a time, or monthly on a
// day of the month at a time, in a time zone, with DST handled. It runs nothing itself; the engine's scheduler does.
package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Spec is when a scheduled job runs: every fixed interval, daily at a
// wall-clock time, or weekly on a day at a wall-clock time, in the
// scheduler's time zone.
type Spec struct {
	Every   time.Duration // > 0 for "every 5m"
	Hour    int           // daily / weekly: wall-clock time
	Minute  int
	Weekly  bool
	Weekday time.Weekday
	Monthly bool
	Day     int // monthly: the day of the month, 1..28 (every month has it)
	text    string
}

func (s Spec) String() string { return s.text }

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Parse reads "every 5m", "daily 02:00", "weekly sun 03:00" or
// "monthly 1 06:00".
func Parse(s string) (Spec, error) {
	f := strings.Fields(strings.ToLower(strings.TrimSpace(s)))
	bad := fmt.Errorf("%q is not a schedule (examples: every 5m, daily 02:00, weekly sun 03:00, monthly 1 06:00)", s)
	switch {
	case len(f) == 3 && f[0] == "monthly":
		day, err := strconv.Atoi(f[1])
		if err != nil || day < 1 || day > 28 {
			return Spec{}, fmt.Errorf("%q: the day of the month must be 1..28 (every month has it)", s)
		}
		h, m, err := parseClock(f[2])
		if err != nil {
			return Spec{}, fmt.Errorf("%q: %w", s, err)
		}
		return Spec{Monthly: true, Day: day, Hour: h, Minute: m, text: fmt.Sprintf("monthly %d %02d:%02d", day, h, m)}, nil
	case len(f) == 2 && f[0] == "every":
		d, err := time.ParseDuration(f[1])
		if err != nil || d < time.Second {
			return Spec{}, fmt.Errorf("%q: the interval must be a duration of at least 1s", s)
		}
		return Spec{Every: d, text: "every " + f[1]}, nil
	case len(f) == 2 && f[0] == "daily":
		h, m, err := parseClock(f[1])
		if err != nil {
			return Spec{}, fmt.Errorf("%q: %w", s, err)
		}
		return Spec{Hour: h, Minute: m, text: fmt.Sprintf("daily %02d:%02d", h, m)}, nil
	case len(f) == 3 && f[0] == "weekly":
		wd, ok := weekdays[f[1][:min(3, len(f[1]))]]
		if !ok {
			return Spec{}, fmt.Errorf("%q: %q is not a weekday (sun..sat)", s, f[1])
		}
		h, m, err := parseClock(f[2])
		if err != nil {
			return Spec{}, fmt.Errorf("%q: %w", s, err)
		}
		return Spec{Weekly: true, Weekday: wd, Hour: h, Minute: m,
			text: fmt.Sprintf("weekly %s %02d:%02d", f[1][:3], h, m)}, nil
	}
	return Spec{}, bad
}

func parseClock(s string) (int, int, error) {
	hh, mm, ok := strings.Cut(s, ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if !ok || err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 || len(mm) != 2 {
		return 0, 0, fmt.Errorf("%q is not a time of day HH:MM", s)
	}
	return h, m, nil
}

// Next is the first run strictly after t, in loc. A wall-clock time that
// does not exist on a day (skipped by a DST change) runs right after the
// jump, at the same minute of the next hour; a time that
// exists twice (the fall-back hour) runs once, at its first occurrence.
func (s Spec) Next(t time.Time, loc *time.Location) time.Time {
	if s.Every > 0 {
		return t.Add(s.Every)
	}
	lt := t.In(loc)
	if s.Monthly {
		for months := 0; months <= 2; months++ {
			d := time.Date(lt.Year(), lt.Month()+time.Month(months), s.Day, s.Hour, s.Minute, 0, 0, loc)
			if d.Hour() != s.Hour || d.Minute() != s.Minute {
				d = time.Date(lt.Year(), lt.Month()+time.Month(months), s.Day, s.Hour+1, s.Minute, 0, 0, loc)
			}
			if d.After(t) {
				return d
			}
		}
		panic("unreachable: a monthly slot exists within 2 months")
	}
	for days := 0; days <= 8; days++ {
		d := time.Date(lt.Year(), lt.Month(), lt.Day()+days, s.Hour, s.Minute, 0, 0, loc)
		if s.Weekly && d.Weekday() != s.Weekday {
			continue
		}
		if d.Hour() != s.Hour || d.Minute() != s.Minute {
			// The wall-clock time does not exist that day (spring
			// forward): run at the same minute of the next hour, which
			// is just after the jump, never before the intended time.
			d = time.Date(lt.Year(), lt.Month(), lt.Day()+days, s.Hour+1, s.Minute, 0, 0, loc)
		}
		if d.After(t) {
			return d
		}
	}
	panic("unreachable: a weekly slot exists within 8 days")
}

// Due reports whether a slot passed since lastRun (so a job missed while
// rmm was down runs once at start, not once per missed slot).
func (s Spec) Due(lastRun, now time.Time, loc *time.Location) bool {
	if lastRun.IsZero() {
		return s.Every > 0 // interval jobs start at once; daily/weekly wait for their slot
	}
	return !s.Next(lastRun, loc).After(now)
}
