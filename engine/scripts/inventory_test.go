package scripts

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func inventoryFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseHardwareFixture(t *testing.T) {
	hw, err := ParseHardware(inventoryFixture(t, "inventory_hardware.json"))
	if err != nil {
		t.Fatal(err)
	}
	if hw.System.Model != "Virtual Machine" || hw.System.TotalMemoryBytes != 17179398144 {
		t.Errorf("system = %+v", hw.System)
	}
	if hw.BIOS.Value == nil || hw.BIOS.Value.SerialNumber == "" ||
		!hw.BIOS.Value.ReleaseDate.Equal(time.Date(2018, 11, 21, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("bios = %+v, want the serial and a /Date()/ release date of 2018-11-21", hw.BIOS.Value)
	}
	// One processor and one memory module arrive unwrapped from their arrays.
	if len(hw.Processors.Value) != 1 || hw.Processors.Value[0].Architecture != 9 {
		t.Errorf("processors = %+v, want one x64 (enum 9) processor from a bare object", hw.Processors.Value)
	}
	if len(hw.Memory.Value) != 1 || hw.Memory.Value[0].CapacityBytes != 17179869184 || hw.Memory.Value[0].Bank != "" {
		t.Errorf("memory = %+v, want one 16 GiB module with a null bank", hw.Memory.Value)
	}
	if len(hw.Volumes.Value) != 3 || hw.Volumes.Value[2].DriveType != 5 || hw.Volumes.Value[2].SizeBytes != 0 {
		t.Errorf("volumes = %+v, want two fixed volumes and an empty optical drive", hw.Volumes.Value)
	}
	if hw.Battery.Unavailable != "" || len(hw.Battery.Value) != 0 {
		t.Errorf("battery = %+v, want none (null: an empty array after unrolling)", hw.Battery)
	}
}

func TestParseSoftwareFixture(t *testing.T) {
	sw, err := ParseSoftware(inventoryFixture(t, "inventory_software.json"))
	if err != nil {
		t.Fatal(err)
	}
	if sw.OS.DisplayVersion != "22H2" || sw.OS.Build != "19045" || sw.OS.UBR != 5247 {
		t.Errorf("os = %+v", sw.OS)
	}
	if !sw.OS.InstallDate.Equal(time.UnixMilli(1672531200000)) {
		t.Errorf("install date %s: a /Date(ms+0100)/ is UTC milliseconds, the offset only a display zone", sw.OS.InstallDate)
	}
	if len(sw.Hotfixes.Value) != 1 || sw.Hotfixes.Value[0].ID != "KB5046613" {
		t.Errorf("hotfixes = %+v, want the one hotfix from a bare object", sw.Hotfixes.Value)
	}
	apps := sw.Applications.Value
	if len(apps) != 3 || apps[2].InstallDate != "20190312" || apps[2].Version != "3" || apps[1].InstallDate != "" {
		t.Errorf("applications = %+v, want a DWORD InstallDate and version read as text and a null one empty", apps)
	}
	if sw.Startup.Unavailable == "" || !strings.Contains(sw.Startup.Unavailable, "Win32_StartupCommand") {
		t.Errorf("startup = %+v, want unavailable with the reason", sw.Startup)
	}
}

func TestParseSecurityFixtures(t *testing.T) {
	old, err := ParseSecurity(inventoryFixture(t, "inventory_security.json"))
	if err != nil {
		t.Fatal(err)
	}
	if old.Defender.Unavailable == "" || old.BitLocker.Unavailable == "" {
		t.Errorf("defender %+v bitlocker %+v: want both unavailable on this 2016 host", old.Defender, old.BitLocker)
	}
	if len(old.Firewall.Value) != 3 || old.Firewall.Value[2].On() || !old.Firewall.Value[0].On() {
		t.Errorf("firewall = %+v, want GpoBoolean 1 on and 0 off", old.Firewall.Value)
	}
	if len(old.Administrators.Value) != 1 || old.Administrators.Value[0].Source != 1 {
		t.Errorf("administrators = %+v, want one local member from a bare object", old.Administrators.Value)
	}
	if !old.PendingReboot.Pending || len(old.PendingReboot.Reasons) != 1 || old.PendingReboot.Since.IsZero() {
		t.Errorf("pending reboot = %+v", old.PendingReboot)
	}

	w11, err := ParseSecurity(inventoryFixture(t, "inventory_security_win11.json"))
	if err != nil {
		t.Fatal(err)
	}
	def := w11.Defender.Value
	if def == nil || !def.SignatureLastUpdated.Equal(time.UnixMilli(1764100000000)) {
		t.Errorf("defender = %+v, want the signature date read from its value object", def)
	}
	if len(w11.BitLocker.Value) != 1 || w11.BitLocker.Value[0].ProtectionStatus != 1 || w11.BitLocker.Value[0].Method != 7 {
		t.Errorf("bitlocker = %+v, want C: protected with XtsAes256 (enum 7) from a bare object", w11.BitLocker.Value)
	}
	if w11.TPM.Value == nil || !w11.TPM.Value.Present {
		t.Errorf("tpm = %+v", w11.TPM)
	}
	if w11.PendingReboot.Pending || !w11.PendingReboot.Since.IsZero() {
		t.Errorf("pending reboot = %+v, want none", w11.PendingReboot)
	}
}

func TestParseNetworkFixture(t *testing.T) {
	n, err := ParseNetwork(inventoryFixture(t, "inventory_network.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Adapters.Value) != 1 || n.Adapters.Value[0].IPv4[0] != "10.10.0.42" || len(n.Adapters.Value[0].DNSServers) != 2 {
		t.Errorf("adapters = %+v", n.Adapters.Value)
	}
	if n.Shares.Unavailable == "" {
		t.Errorf("shares = %+v, want unavailable", n.Shares)
	}
	if len(n.Listening.Value) != 3 || n.Listening.Value[1].Port != 5985 || n.Listening.Value[1].State != 2 {
		t.Errorf("listening = %+v, want WinRM's 5985 in state Listen (enum 2)", n.Listening.Value)
	}
}

func TestParseMetricsV2Fixture(t *testing.T) {
	m, err := ParseMetrics(inventoryFixture(t, "inventory_metrics_v2.json"))
	if err != nil {
		t.Fatal(err)
	}
	if m.PendingReboot == nil || !*m.PendingReboot || m.NetErrors == nil || *m.NetErrors != 1234 || m.DiskQueue != 1 {
		t.Errorf("v2 members = reboot %v errors %v queue %v", m.PendingReboot, m.NetErrors, m.DiskQueue)
	}
	if len(m.Services) != 2 || m.Services[1] != (ServiceState{"W32Time", "Stopped"}) || len(m.Disks) != 1 {
		t.Errorf("services %+v disks %+v", m.Services, m.Disks)
	}
}

func TestStoredInventoryReadsBackTheSame(t *testing.T) {
	for _, c := range []struct{ cat, file string }{
		{InventoryHardware, "inventory_hardware.json"}, {InventorySoftware, "inventory_software.json"},
		{InventorySecurity, "inventory_security.json"}, {InventoryNetwork, "inventory_network.json"},
	} {
		_, norm, err := ParseInventory(c.cat, inventoryFixture(t, c.file))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(norm), `\/Date(`) || strings.Contains(string(norm), "0001-01-01") {
			t.Errorf("%s: normalised document keeps a 5.1 date or writes a zero date: %.200s", c.cat, norm)
		}
		_, again, err := ParseInventory(c.cat, norm)
		if err != nil {
			t.Fatalf("%s: the stored form does not parse: %v", c.cat, err)
		}
		if string(again) != string(norm) {
			t.Errorf("%s: stored form changes when read back:\n%s\n%s", c.cat, norm, again)
		}
		var generic map[string]any
		if err := json.Unmarshal(norm, &generic); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := ParseInventory("firmware", []byte(`{}`)); err == nil {
		t.Error("an unknown category parsed")
	}
	if _, _, err := ParseInventory(InventoryHardware, []byte("  \r\n")); err == nil {
		t.Error("empty output parsed")
	}
}
