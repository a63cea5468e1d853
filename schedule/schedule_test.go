package schedule

import (
	"testing"
	"time"
)

func mustSpec(t *testing.T, s string) Spec {
	t.Helper()
	sp, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func TestParseSpecAcceptsTheFourFormsAndRejectsTheRest(t *testing.T) {
	for _, ok := range []string{"every 5m", "daily 02:00", "weekly sun 03:00", "Weekly Sunday 03:00", "every 1h30m", "monthly 1 02:00"} {
		if _, err := Parse(ok); err != nil {
			t.Errorf("Parse(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "hourly", "every", "every 0s", "every soon", "daily 2", "daily 24:00", "daily 02:60", "daily 2:5", "weekly xyz 03:00", "weekly sun", "monthly 31 02:00"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestNextRunTimes(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, ny)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name string
		spec string
		from time.Time
		want time.Time
	}{
		{"daily later today", "daily 02:00", at("2026-11-25 01:00"), at("2026-11-25 02:00")},
		{"daily tomorrow when today's slot passed", "daily 02:00", at("2026-11-25 02:00"), at("2026-11-26 02:00")},
		{"weekly to the next Sunday", "weekly sun 03:00", at("2026-11-25 12:00"), at("2026-11-29 03:00")},
		{"weekly on Sunday before the slot", "weekly sun 03:00", at("2026-11-29 01:00"), at("2026-11-29 03:00")},
		{"weekly on Sunday after the slot", "weekly sun 03:00", at("2026-11-29 04:00"), at("2026-12-06 03:00")},
		// 2026-03-08: clocks jump from 02:00 to 03:00 in New York.
		{"a slot skipped by spring-forward runs in the shifted hour", "daily 02:30", at("2026-03-08 00:00"), time.Date(2026, 3, 8, 3, 30, 0, 0, ny)},
		// 2026-11-01: 01:00-02:00 happens twice.
		{"a slot in the repeated fall-back hour runs once", "daily 01:30", at("2026-11-01 00:00"), time.Date(2026, 11, 1, 1, 30, 0, 0, ny)},
		{"every adds the interval", "every 5m", at("2026-11-25 10:00"), at("2026-11-25 10:05")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustSpec(t, tt.spec).Next(tt.from, ny)
			if !got.Equal(tt.want) {
				t.Fatalf("Next(%s) = %s, want %s", tt.from, got, tt.want)
			}
		})
	}
	// After the fall-back slot ran, the next is the following day, not the
	// second 01:30 an hour later.
	first := time.Date(2026, 11, 1, 1, 30, 0, 0, ny)
	if got := mustSpec(t, "daily 01:30").Next(first, ny); got.Sub(first) < 24*time.Hour {
		t.Fatalf("ran twice in the repeated hour: next %s", got)
	}
}

func TestAMissedSlotRunsOnceNotOncePerMissedSlot(t *testing.T) {
	loc := time.UTC
	daily := mustSpec(t, "daily 02:00")
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, loc)
	if !daily.Due(now.Add(-72*time.Hour), now, loc) {
		t.Fatal("three days down: not due")
	}
	if daily.Due(time.Date(2026, 11, 25, 2, 0, 0, 0, loc), now, loc) {
		t.Fatal("ran at today's slot: due again")
	}
	if daily.Due(time.Time{}, now, loc) {
		t.Fatal("a daily job that never ran is due at once")
	}
	if !mustSpec(t, "every 5m").Due(time.Time{}, now, loc) {
		t.Fatal("an interval job that never ran is not due")
	}
}

func TestMonthlyRunsOnItsDayEachMonthAcrossDST(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	sp, err := Parse("monthly 1 06:00")
	if err != nil || sp.String() != "monthly 1 06:00" {
		t.Fatalf("%+v %v", sp, err)
	}
	at := time.Date(2026, 2, 15, 12, 0, 0, 0, berlin)
	for _, want := range []string{"2026-03-01 06:00 CET", "2026-04-01 06:00 CEST", "2026-05-01 06:00 CEST"} {
		at = sp.Next(at, berlin)
		if got := at.Format("2006-01-02 15:04 MST"); got != want {
			t.Fatalf("next %s, want %s", got, want)
		}
	}
	for _, bad := range []string{"monthly 29 06:00", "monthly 0 06:00", "monthly x 06:00", "monthly 1 25:00"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if !sp.Due(time.Date(2026, 3, 1, 6, 0, 0, 0, berlin), time.Date(2026, 4, 1, 6, 0, 0, 0, berlin), berlin) {
		t.Fatal("a monthly job a month after its last run is not due")
	}
}
