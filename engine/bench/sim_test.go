package bench

import (
	"testing"
	"time"
)

func TestParseProcStatCPUCountsFromTheCommandNamesParenthesis(t *testing.T) {
	// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
	line := "4242 (rmm sim) (x)) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 66 0 0 20 0 12 0"
	got, ok := parseProcStatCPU(line)
	if !ok || got != 13*time.Second {
		t.Errorf("parseProcStatCPU = %v, %v; want 13s (1300 ticks)", got, ok)
	}
	if _, ok := parseProcStatCPU("4242 (rmm) S 1 2"); ok {
		t.Error("a short line parsed")
	}
}
