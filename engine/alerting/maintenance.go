package alerting

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Recurrence is a maintenance window that comes back: on some weekdays
// (every day when Days is empty) at a wall-clock time, for Length.
type Recurrence struct {
	Days     []time.Weekday
	Hour     int
	Minute   int
	Length   time.Duration  // more than 0, at most 7 days
	Location *time.Location // the wall clock's zone; nil: UTC
}

var weekdayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseRecurrence reads "Sat 22:00 + 4h", "Mon,Wed 01:30 + 90m" or
// "daily 02:00 + 1h" (lengths in Go duration syntax, or days: "+ 2d"),
// with the wall clock in loc (nil: UTC).
func ParseRecurrence(s string, loc *time.Location) (Recurrence, error) {
	bad := func(why string) (Recurrence, error) {
		return Recurrence{}, fmt.Errorf("maintenance window %q: %s (examples: Sat 22:00 + 4h, Mon,Wed 01:30 + 90m, daily 02:00 + 1h)", s, why)
	}
	when, length, ok := strings.Cut(s, "+")
	f := strings.Fields(when)
	if !ok || len(f) != 2 {
		return bad("want DAYS HH:MM + LENGTH")
	}
	r := Recurrence{Location: loc}
	if !strings.EqualFold(f[0], "daily") {
		for _, d := range strings.Split(strings.ToLower(f[0]), ",") {
			wd, ok := weekdayNames[d[:min(3, len(d))]]
			if !ok || len(d) < 3 {
				return bad(fmt.Sprintf("%q is not a weekday (sun..sat) or daily", d))
			}
			if !slices.Contains(r.Days, wd) {
				r.Days = append(r.Days, wd)
			}
		}
	}
	hh, mm, ok := strings.Cut(f[1], ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if !ok || err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 || len(mm) != 2 {
		return bad(fmt.Sprintf("%q is not a time of day HH:MM", f[1]))
	}
	r.Hour, r.Minute = h, m
	length = strings.TrimSpace(length)
	if n, ok := strings.CutSuffix(length, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return bad(fmt.Sprintf("length %q is not a duration", length))
		}
		r.Length = time.Duration(days) * oneDay
	} else {
		d, err := time.ParseDuration(length)
		if err != nil {
			return bad(fmt.Sprintf("length %q is not a duration", length))
		}
		r.Length = d
	}
	if err := r.validate(); err != nil {
		return bad(err.Error())
	}
	return r, nil
}

func (r Recurrence) validate() error {
	if r.Length <= 0 || r.Length > 7*oneDay {
		return fmt.Errorf("length %s is out of range: want more than 0, at most 7 days", r.Length)
	}
	if r.Hour < 0 || r.Hour > 23 || r.Minute < 0 || r.Minute > 59 {
		return fmt.Errorf("time %02d:%02d is not a time of day", r.Hour, r.Minute)
	}
	return nil
}

// covers reports whether at falls in an occurrence of r: one that starts
// on at's day or on one of the days before, as far back as Length reaches.
func (r Recurrence) covers(at time.Time) bool {
	loc := r.Location
	if loc == nil {
		loc = time.UTC
	}
	local := at.In(loc)
	back := int((r.Length + oneDay - 1) / oneDay)
	for i := 0; i <= back; i++ {
		d := local.AddDate(0, 0, -i)
		if len(r.Days) > 0 && !slices.Contains(r.Days, d.Weekday()) {
			continue
		}
		start := time.Date(d.Year(), d.Month(), d.Day(), r.Hour, r.Minute, 0, 0, loc)
		if !at.Before(start) && at.Before(start.Add(r.Length)) {
			return true
		}
	}
	return false
}

// MaintenanceWindow is a time in which the devices of a group, or one
// device, raise no alerts: once (Start..End) or recurring (Every).
type MaintenanceWindow struct {
	Name   string
	Group  string // the group's devices; or
	Device string // one device, by hostname (exactly one of the two)
	Start  time.Time
	End    time.Time   // a one-off window: [Start, End)
	Every  *Recurrence // a recurring window, when Start and End are zero
}

// Validate checks that the window says whom it covers and when.
func (w MaintenanceWindow) Validate() error {
	name := w.Name
	if name == "" {
		name = "maintenance window"
	}
	switch {
	case (w.Group == "") == (w.Device == ""):
		return &SettingError{Field: name, Problem: "set exactly one of group and device"}
	case w.Every != nil && (!w.Start.IsZero() || !w.End.IsZero()):
		return &SettingError{Field: name, Problem: "set either start and end, or a recurrence, not both"}
	case w.Every != nil:
		if err := w.Every.validate(); err != nil {
			return &SettingError{Field: name, Problem: err.Error()}
		}
	case w.Start.IsZero() || !w.End.After(w.Start):
		return &SettingError{Field: name, Problem: "a one-off window needs a start before its end"}
	}
	return nil
}

// Covers reports whether the window holds the device at at.
func (w MaintenanceWindow) Covers(hostname string, groups []string, at time.Time) bool {
	switch {
	case w.Device != "":
		if !strings.EqualFold(w.Device, hostname) {
			return false
		}
	case !slices.ContainsFunc(groups, func(g string) bool { return strings.EqualFold(g, w.Group) }):
		return false
	}
	if w.Every != nil {
		return w.Every.covers(at)
	}
	return !at.Before(w.Start) && at.Before(w.End)
}
