package config

import (
	"strings"
	"testing"
)

func TestBadPatchSettingsNameTheirLineAndKey(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"an unknown classification", "patches:\n  auto_approve:\n    - name: r\n      classifications: [Security Update]\n",
			`test.yaml:4: patches.auto_approve[0].classifications: "Security Update" is not one of Critical Updates, Security Updates`},
		{"a severity that is not MSRC's", "patches:\n  auto_approve:\n    - name: r\n      severities: [urgent]\n",
			`test.yaml:4: patches.auto_approve[0].severities: "urgent" is not one of Critical, Important, Moderate, Low, none`},
		{"a rule for a ring that does not exist", "patches:\n  rings:\n    - name: pilot\n  auto_approve:\n    - name: r\n      rings: [canary]\n",
			`test.yaml:5: patches.auto_approve[0].rings: ring "canary" is not in patches.rings`},
		{"a ring after one not listed before it", "patches:\n  rings:\n    - name: production\n      after: pilot\n    - name: pilot\n",
			`test.yaml:3: patches.rings[0].after: "pilot" is not a ring listed before production`},
		{"a ring by status", "patches:\n  rings:\n    - name: pilot\n      devices: status:online\n",
			`test.yaml:4: patches.rings[0].devices: term "status:online": a ring selects by host, site, os, tag, group or text`},
		{"a ring name twice", "patches:\n  rings:\n    - name: pilot\n    - name: Pilot\n",
			`test.yaml:4: patches.rings[1].name: "Pilot" is used twice (first on line 3)`},
		{"an approver role that does not exist", "patches:\n  rings:\n    - name: pilot\n      approve_role: root\n",
			`test.yaml:4: patches.rings[0].approve_role: "root" is not one of operator, admin`},
		{"a deny list entry that is no KB", "patches:\n  deny: [KB5034441, Q123]\n",
			`test.yaml:2: patches.deny: "Q123" is not a KB number (KB5034441)`},
		{"a reboot policy", "patches:\n  reboot: always\n",
			`test.yaml:2: patches.reboot: "always" is not one of window, never`},
		{"a soak that is no duration", "patches:\n  rings:\n    - name: pilot\n    - name: prod\n      after: pilot\n      soak: three days\n",
			`test.yaml:6: patches.rings[1].soak: "three days" is not a duration`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("test.yaml", []byte(tt.yaml), testDirs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v\nwant it to contain %q", err, tt.want)
			}
			if !cfg.Equal(Default(testDirs)) {
				t.Error("a bad file left part of its settings applied")
			}
		})
	}
}
