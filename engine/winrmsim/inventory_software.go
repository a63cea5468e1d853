package winrmsim

// The software collector's answer: OS, hotfixes, applications, services
// and startup items of the host's release.

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

func (h *host) softwareDoc(f *Fleet, at, boot time.Time) obj {
	epoch := f.epoch
	productType := 1
	switch {
	case h.server && h.hasTag("dc"):
		productType = 2
	case h.server:
		productType = 3
	}
	var services []obj
	for _, s := range h.services() {
		start := s.StartType
		switch start {
		case "Automatic", "AutomaticDelayedStart":
			start = "Auto"
		}
		account := "LocalSystem"
		if strings.HasPrefix(s.Name, "Dns") || s.Name == "W32Time" || s.Name == "EventLog" {
			account = `NT AUTHORITY\LocalService`
		}
		services = append(services, obj{{"name", s.Name}, {"display_name", s.DisplayName}, {"state", s.State},
			{"start_type", start}, {"account", account}})
	}
	return obj{
		{"os", obj{{"name", h.caption}, {"version", h.release.version}, {"build", h.build()}, {"ubr", h.ubr},
			{"display_version", h.displayVersion()}, {"edition_id", h.editionID()}, {"architecture", "64-bit"},
			{"product_type", productType}, {"install_date", psDate(h.installDate(epoch))}, {"last_boot", psDate(boot)},
			{"locale", "0409"}, {"registered_to", "IT"}}},
		{"hotfixes", unrolled(h.hotfixes(f, at))},
		{"applications", unrolled(h.applications(epoch))},
		{"services", unrolled(services)},
		{"startup", unrolled(h.startup())},
	}
}

// hotfixes are Win32_QuickFixEngineering's entries: servicing stack and
// cumulative updates, and on older releases a longer list of individual
// fixes, older than what the host's Windows Update state installed
// (wua.go), which come last: its cumulative and .NET updates, and what
// patch tasks installed since.
func (h *host) hotfixes(f *Fleet, at time.Time) []obj {
	r := h.rngFor(0x4f1c)
	n := 3 + r.IntN(5)
	if h.server2016() || h.build() == "17763" {
		n = 12 + r.IntN(20)
	}
	recent := h.wuHotfixes(f, at)
	last := h.lastUpdate(f.epoch).AddDate(0, 0, -35)
	out := make([]obj, n)
	when := last
	kb := 5040000 + r.IntN(9000)
	for i := range out {
		desc := "Update"
		switch {
		case i == 0:
			desc = "Security Update"
		case i%4 == 1:
			desc = "Servicing Stack Update"
		}
		out[n-1-i] = obj{{"id", "KB" + strconv.Itoa(kb)}, {"description", desc}, {"installed_on", psDate(when)},
			{"installed_by", `NT AUTHORITY\SYSTEM`}}
		kb -= 1000 + r.IntN(40000)
		when = when.AddDate(0, 0, -20-r.IntN(25))
	}
	return append(out, recent...)
}

// lastUpdate is the host's newest hotfix install date: within the last
// month for most hosts, months ago for a neglected few.
func (h *host) lastUpdate(epoch time.Time) time.Time {
	r := h.rngFor(0x1a57e)
	days := 2 + r.IntN(26)
	if r.IntN(100) < 6 {
		days = 45 + r.IntN(200)
	}
	return epoch.AddDate(0, 0, -days).Truncate(24 * time.Hour)
}

// app is one Uninstall registry entry.
type app struct {
	name, version, publisher string
	sizeKB                   int
	arch                     string
}

var (
	commonApps = []app{
		{"Microsoft Edge", "131.0.2903.70", "Microsoft Corporation", 0, "x86"},
		{"Microsoft Edge WebView2 Runtime", "131.0.2903.70", "Microsoft Corporation", 0, "x86"},
		{"Microsoft Update Health Tools", "5.72.0.0", "Microsoft Corporation", 1034, "x64"},
		{"7-Zip 23.01 (x64)", "23.01", "Igor Pavlov", 5638, "x64"},
		{"Notepad++ (64-bit x64)", "8.6.2", "Notepad++ Team", 15012, "x64"},
		{"Google Chrome", "131.0.6778.86", "Google LLC", 0, "x64"},
		{"Mozilla Firefox (x64 en-US)", "133.0", "Mozilla", 243510, "x64"},
		{"Mozilla Maintenance Service", "133.0", "Mozilla", 325, "x86"},
		{"PowerShell 7-x64", "7.4.6.0", "Microsoft Corporation", 283000, "x64"},
		{"Microsoft Intune Management Extension", "1.83.107.0", "Microsoft Corporation", 31240, "x86"},
		{"Microsoft Monitoring Agent", "10.20.18067.0", "Microsoft Corporation", 0, "x64"},
		{"Microsoft Policy Platform", "68.1.1010.0", "Microsoft Corporation", 6048, "x64"},
		{"Configuration Manager Client", "5.00.9122.1000", "Microsoft Corporation", 59870, "x64"},
		{"Local Administrator Password Solution", "6.2.0.0", "Microsoft Corporation", 1110, "x64"},
	}
	workstationApps = []app{
		{"Microsoft 365 Apps for enterprise - en-us", "16.0.17928.20156", "Microsoft Corporation", 0, "x64"},
		{"Microsoft OneDrive", "24.211.1020.0001", "Microsoft Corporation", 289452, "x64"},
		{"Microsoft Teams Meeting Add-in for Microsoft Office", "1.24.25604", "Microsoft", 28810, "x86"},
		{"Teams Machine-Wide Installer", "1.7.0.156", "Microsoft Corporation", 145000, "x86"},
		{"Adobe Acrobat (64-bit)", "24.004.20220", "Adobe", 1254810, "x64"},
		{"Zoom Workplace (64-bit)", "6.2.11", "Zoom Video Communications, Inc.", 402113, "x64"},
		{"Cisco Secure Client - AnyConnect VPN", "5.1.2.42", "Cisco Systems, Inc.", 23102, "x86"},
		{"VLC media player", "3.0.20", "VideoLAN", 169540, "x64"},
		{"Microsoft Visio - en-us", "16.0.17928.20156", "Microsoft Corporation", 0, "x64"},
		{"Snagit 2024", "24.1.0.1784", "TechSmith Corporation", 640000, "x64"},
		{"Realtek Audio Driver", "6.0.9549.1", "Realtek Semiconductor Corp.", 284000, "x86"},
		{"Intel(R) Management Engine Components", "2345.5.42.0", "Intel Corporation", 74000, "x86"},
		{"Intel(R) Chipset Device Software", "10.1.19444.8378", "Intel(R) Corporation", 3210, "x86"},
		{"Intel(R) Serial IO", "30.100.2131.1", "Intel Corporation", 1550, "x64"},
		{"Microsoft Windows Desktop Runtime - 8.0.11 (x64)", "8.0.11.34221", "Microsoft Corporation", 212880, "x64"},
	}
	devApps = []app{
		{"Microsoft Visual Studio Code", "1.95.3", "Microsoft Corporation", 387000, "x64"},
		{"Git", "2.47.1", "The Git Development Community", 336000, "x64"},
		{"Python 3.12.7 (64-bit)", "3.12.7150.0", "Python Software Foundation", 0, "x64"},
		{"Python 3.12.7 Core Interpreter (64-bit)", "3.12.7150.0", "Python Software Foundation", 6214, "x64"},
		{"Python 3.12.7 Standard Library (64-bit)", "3.12.7150.0", "Python Software Foundation", 22612, "x64"},
		{"Python Launcher", "3.12.7150.0", "Python Software Foundation", 1830, "x86"},
		{"Docker Desktop", "4.36.0", "Docker Inc.", 0, "x64"},
		{"Wireshark 4.4.2 x64", "4.4.2", "The Wireshark developer community", 240000, "x64"},
		{"Npcap", "1.79", "Nmap Project", 0, "x86"},
		{"Node.js", "22.11.0", "Node.js Foundation", 103000, "x64"},
		{"Visual Studio Community 2022", "17.12.1", "Microsoft Corporation", 0, "x86"},
		{"Microsoft Visual Studio Installer", "3.12.2149.20818", "Microsoft Corporation", 0, "x86"},
		{"WinSCP 6.3.5", "6.3.5", "Martin Prikryl", 41000, "x86"},
		{"PuTTY release 0.81 (64-bit)", "0.81.0.0", "Simon Tatham", 4700, "x64"},
	}
	sqlApps = []app{
		{"Microsoft SQL Server 2019 (64-bit)", "", "Microsoft Corporation", 0, "x64"},
		{"SQL Server Management Studio", "20.2.30.0", "Microsoft Corp.", 0, "x86"},
		{"Microsoft ODBC Driver 17 for SQL Server", "17.10.6.1", "Microsoft Corporation", 7980, "x64"},
		{"Microsoft OLE DB Driver for SQL Server", "18.7.4.0", "Microsoft Corporation", 5720, "x64"},
		{"Microsoft SQL Server 2019 Setup (English)", "15.0.4382.1", "Microsoft Corporation", 143000, "x64"},
		{"Browser for SQL Server 2019", "15.0.2000.5", "Microsoft Corporation", 11200, "x86"},
		{"Microsoft VSS Writer for SQL Server 2019", "15.0.2000.5", "Microsoft Corporation", 3070, "x64"},
		{"SQL Server 2019 Database Engine Services", "15.0.2000.5", "Microsoft Corporation", 0, "x64"},
		{"SQL Server 2019 Database Engine Shared", "15.0.2000.5", "Microsoft Corporation", 0, "x64"},
		{"SQL Server 2019 Connection Info", "15.0.2000.5", "Microsoft Corporation", 0, "x64"},
		{"SQL Server 2019 Shared Management Objects", "15.0.2000.5", "Microsoft Corporation", 0, "x64"},
		{"SQL Server 2019 Common Files", "15.0.2000.5", "Microsoft Corporation", 0, "x64"},
		{"SQL Server 2019 XEvent", "15.0.2000.5", "Microsoft Corporation", 0, "x64"},
	}
	serverApps = []app{
		{"VMware Tools", "12.4.5.23787635", "VMware, Inc.", 103000, "x64"},
		{"Veeam Agent for Microsoft Windows", "6.2.0.121", "Veeam Software Group GmbH", 640000, "x64"},
		{"Microsoft Azure Connected Machine Agent", "1.47.02877.1846", "Microsoft Corporation", 0, "x64"},
		{"Windows Admin Center", "2.3.2410.28002", "Microsoft Corporation", 290000, "x64"},
		{"IIS URL Rewrite Module 2", "7.2.1993", "Microsoft Corporation", 2900, "x64"},
		{"Microsoft Web Deploy 4.0", "10.0.8321", "Microsoft Corporation", 15000, "x64"},
	}
)

// applications are the host's Uninstall entries, 64- and 32-bit: common
// tools, the role's software, and the long tail of runtimes (Visual C++
// redistributables, .NET, SDK parts) that makes a real list hundreds long.
func (h *host) applications(epoch time.Time) []obj {
	r := h.rngFor(0xa995)
	var apps []app
	pick := func(from []app, pct int) {
		for _, a := range from {
			if r.IntN(100) < pct {
				apps = append(apps, a)
			}
		}
	}
	pick(commonApps, 70)
	if h.server {
		pick(serverApps, 40)
		if h.hasTag("sql") {
			pick(sqlApps, 100)
		}
	} else {
		pick(workstationApps, 75)
		if h.hasTag("dev") || r.IntN(100) < 15 {
			pick(devApps, 90)
		}
	}
	h.ageZoom(apps)
	// Visual C++ redistributables: every year, both architectures, with
	// their Minimum and Additional Runtime entries.
	for _, vc := range []struct{ year, ver string }{
		{"2005", "8.0.61001"}, {"2008", "9.0.30729.6161"}, {"2010", "10.0.40219"}, {"2012", "11.0.61030"},
		{"2013", "12.0.40664"}, {"2015-2022", "14.40.33810"},
	} {
		if r.IntN(100) < 25 && vc.year != "2015-2022" {
			continue
		}
		for _, arch := range []string{"x64", "x86"} {
			apps = append(apps,
				app{"Microsoft Visual C++ " + vc.year + " Redistributable (" + arch + ") - " + vc.ver, vc.ver, "Microsoft Corporation", 20000 + r.IntN(3000), "x86"},
				app{"Microsoft Visual C++ " + vc.year + " " + arch + " Minimum Runtime - " + vc.ver, vc.ver, "Microsoft Corporation", 2200 + r.IntN(300), arch},
				app{"Microsoft Visual C++ " + vc.year + " " + arch + " Additional Runtime - " + vc.ver, vc.ver, "Microsoft Corporation", 12000 + r.IntN(300), arch},
			)
		}
	}
	// .NET runtimes: a few patch levels of each major, each with its host,
	// resolver and runtime entries.
	for _, major := range []int{6, 7, 8} {
		for range 1 + r.IntN(3) {
			patch := 10 + r.IntN(26)
			v := fmt.Sprintf("%d.0.%d", major, patch)
			for _, arch := range []string{"x64", "x86"} {
				for _, part := range []string{"Microsoft .NET Runtime", "Microsoft .NET Host FX Resolver", "Microsoft ASP.NET Core " + v + " Shared Framework"} {
					name := part + " - " + v + " (" + arch + ")"
					if strings.HasPrefix(part, "Microsoft ASP") {
						name = part + " (" + arch + ")"
					}
					apps = append(apps, app{name, v + "." + strconv.Itoa(30000+r.IntN(9000)), "Microsoft Corporation", 60000 + r.IntN(40000), arch})
				}
			}
		}
		apps = append(apps, app{fmt.Sprintf("Microsoft .NET Host - %d.0.%d (x64)", major, 10+r.IntN(26)), "", "Microsoft Corporation", 200, "x64"})
	}
	// Windows SDK and driver packages: the long tail.
	sdk := 20 + r.IntN(60)
	if h.server {
		sdk = 10 + r.IntN(30)
	}
	sdkParts := []string{"Windows SDK AddOn", "Windows SDK Desktop Tools x64", "Windows SDK Desktop Headers x86", "Windows SDK Signing Tools",
		"Windows SDK for Windows Store Apps Contracts", "Windows App Certification Kit Native Components", "Universal CRT Tools x64",
		"Kits Configuration Installer", "WinRT Intellisense Desktop - en-us", "Windows IoT Extension SDK", "MSI Development Tools",
		"Windows Team Extension SDK", "Application Verifier x64 External Package", "Universal General MIDI DLS Extension SDK"}
	for i := range sdk {
		p := sdkParts[i%len(sdkParts)]
		v := fmt.Sprintf("10.1.%d.%d", []int{19041, 22000, 22621, 26100}[i/len(sdkParts)%4], 685+r.IntN(3000))
		apps = append(apps, app{p + " " + v, v, "Microsoft Corporation", 100 + r.IntN(90000), []string{"x64", "x86"}[i%2]})
	}
	drivers := 10 + r.IntN(25)
	for i := range drivers {
		c := []string{"Printer", "Scanner", "Bluetooth", "Card Reader", "Dock", "Camera", "Touchpad", "Thunderbolt"}[i%8]
		apps = append(apps, app{fmt.Sprintf("%s %s Driver Package (%d)", h.vendor().name, c, i), fmt.Sprintf("%d.%d.%d", 1+r.IntN(20), r.IntN(100), r.IntN(10000)),
			h.vendor().name, 500 + r.IntN(50000), "x64"})
	}
	out := make([]obj, len(apps))
	install := h.installDate(epoch)
	span := int(epoch.Sub(install).Hours()/24) + 1
	for i, a := range apps {
		var version, size any = a.version, a.sizeKB
		if a.version == "" {
			version = nil
		}
		if a.sizeKB == 0 {
			size = nil
		}
		var date any = install.AddDate(0, 0, r.IntN(span)).Format("20060102")
		if r.IntN(10) == 0 {
			date = nil // many installers leave InstallDate out
		}
		out[i] = obj{{"name", a.name}, {"version", version}, {"publisher", a.publisher}, {"install_date", date}, {"size_kb", size}, {"arch", a.arch}}
	}
	return out
}

// zoomReleases are the Zoom clients a fleet runs side by side: the 5.x
// client ("Zoom (64-bit)") that some machines never updated, and the 6.x
// one renamed "Zoom Workplace".
var zoomReleases = []struct{ name, version string }{
	{"Zoom (64-bit)", "5.13.11.16405"}, {"Zoom (64-bit)", "5.14.10.19202"}, {"Zoom (64-bit)", "5.15.12.22445"},
	{"Zoom (64-bit)", "5.16.10.26186"}, {"Zoom (64-bit)", "5.17.5.31030"}, {"Zoom (64-bit)", "5.17.11.34827"},
	{"Zoom Workplace (64-bit)", "6.0.12.38402"}, {"Zoom Workplace (64-bit)", "6.1.6.42000"},
	{"Zoom Workplace (64-bit)", "6.2.11"}, {"Zoom Workplace (64-bit)", "6.2.11"}, {"Zoom Workplace (64-bit)", "6.3.0.44805"},
}

// ageZoom gives a host's Zoom (when it has one) its own release, from a
// random stream of its own so that nothing else the host has changes.
func (h *host) ageZoom(apps []app) {
	for i := range apps {
		if strings.HasPrefix(apps[i].name, "Zoom ") {
			z := zoomReleases[h.rngFor(0x2007).IntN(len(zoomReleases))]
			apps[i].name, apps[i].version = z.name, z.version
		}
	}
}

func (h *host) startup() []obj {
	var out []obj
	out = append(out, obj{{"name", "SecurityHealth"}, {"command", `%windir%\system32\SecurityHealthSystray.exe`},
		{"location", `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run`}, {"user", "Public"}})
	if h.server {
		return out
	}
	out = append(out,
		obj{{"name", "OneDrive"}, {"command", `"C:\Program Files\Microsoft OneDrive\OneDrive.exe" /background`},
			{"location", `HKU\S-1-5-21-1004336348-1177238915-682003330-1001\SOFTWARE\Microsoft\Windows\CurrentVersion\Run`}, {"user", `CORP\user`}},
		obj{{"name", "RtkAudUService"}, {"command", `"C:\Windows\System32\DriverStore\FileRepository\realtekservice.inf_amd64_1b8e1b0b0a0b0a0b\RtkAudUService64.exe" -background`},
			{"location", `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run`}, {"user", "Public"}},
	)
	return out
}

// --- security ----------------------------------------------------------------
