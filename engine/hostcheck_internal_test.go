package engine

import "testing"

func TestTheComputerNameRules(t *testing.T) {
	tests := []struct {
		name, device, reported string
		same                   bool
	}{
		{"the same name", "WS-0042", "WS-0042", true},
		{"case does not matter", "ws-0042", "WS-0042", true},
		{"an FQDN is its first label", "ws-0042.contoso.com", "WS-0042", true},
		{"a reported FQDN is its first label too", "WS-0042", "ws-0042.contoso.com", true},
		{"another computer", "WS-0057", "SRV-0191", false},
		{"a name that only starts the same", "WS-00421", "WS-0042", false},
		{"NetBIOS cuts a long name to 15 characters", "FINANCE-LAPTOP-0042", "FINANCE-LAPTOP-", true},
		{"a cut name must be exactly 15 characters", "FINANCE-LAPTOP-0042", "FINANCE-LAPTOP", false},
		{"a short name is not cut", "WS-1", "WS-", false},
		{"nothing reported", "WS-1", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sameComputer(tt.device, tt.reported); got != tt.same {
				t.Errorf("sameComputer(%q, %q) = %v, want %v", tt.device, tt.reported, got, tt.same)
			}
		})
	}
}
