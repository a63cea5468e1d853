package engine

import "testing"

// Doctor tries the other standard WinRM port only for a device on a
// standard one: a simulated host (or a real listener moved on purpose)
// on port 24250 gets no "port 5985 answers instead" hint, whatever
// listens on this machine's 5985, so tests never depend on it.
func TestDoctorTriesTheOtherPortOnlyFromAStandardOne(t *testing.T) {
	for _, tc := range []struct {
		port, other int
		ok          bool
	}{
		{5985, 5986, true},
		{5986, 5985, true},
		{24250, 0, false},
		{443, 0, false},
		{80, 0, false},
	} {
		if other, ok := otherWinRMPort(tc.port); other != tc.other || ok != tc.ok {
			t.Errorf("otherWinRMPort(%d) = %d, %v; want %d, %v", tc.port, other, ok, tc.other, tc.ok)
		}
	}
}
