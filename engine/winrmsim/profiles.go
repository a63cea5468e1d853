package winrmsim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// Host profiles: the kinds of Windows host the simulator plays, each
// strict where that kind of host is strict (../shared/research/
// fidelity-review.md). Config.Profile picks them: "modern" (the default)
// draws Windows 10/11 and Server 2016-2025 by seed; "mixed" adds, by
// seed, the hosts that break assumptions (Server Core, 2012 R2 with
// WinRM 2.0 limits, a German host, a Constrained Language host); a
// profile name, or several separated by commas, gives every host one of
// them.

// Profile selections besides the profile names.
const (
	ProfileModern = "modern"
	ProfileMixed  = "mixed"
)

// hostProfile is one kind of host.
type hostProfile struct {
	name    string
	summary string // one line for rmm sim --help
	server  bool
	// releases the host is drawn from; editions overrides the role's.
	releases []osRelease
	editions []string
	// core: Server Core, without the BitLocker and Defender cmdlets.
	core bool
	// legacy: WinRM 2.0 limits: MaxEnvelopeSizekb 150, 15 operations per
	// shell, a Create reply without the rsp:Shell body, quota faults as
	// MSFT_WmiError; no Defender or LocalAccounts module; .NET 4.5.2
	// (Get-Service has no StartType).
	legacy bool
	// german: display language de-DE: quser (and its no-user text) and
	// gpupdate in German.
	german bool
	// clm: PowerShell in Constrained Language mode (AppLocker or WDAC):
	// the resident loop cannot start and method calls on .NET types that
	// are not core types are refused.
	clm bool
	// domain: joined to the simulated domain (Config.Domain): Basic off,
	// Negotiate (Kerberos, NTLM) and Kerberos with message encryption
	// over HTTP, Extended Protection strict (secauth.go).
	domain bool
}

// legacyReleases is Windows Server 2012 R2 (WMF 5.1 installed).
var legacyReleases = []osRelease{
	{caption: "Microsoft Windows Server 2012 R2 %s", version: "6.3.9600", ubrs: []int{20821, 21063, 21620, 22111}, weight: 1},
}

// hostProfiles lists every profile, in the order rmm sim --help shows.
var hostProfiles = []*hostProfile{
	{name: "win10", summary: "Windows 10 22H2 Pro or Enterprise", releases: workstationReleases[:1]},
	{name: "win11", summary: "Windows 11 23H2 or 24H2 Pro or Enterprise", releases: workstationReleases[1:]},
	{name: "server2016", summary: "Windows Server 2016 with Desktop Experience", server: true, releases: serverReleases[0:1]},
	{name: "server2019", summary: "Windows Server 2019 with Desktop Experience", server: true, releases: serverReleases[1:2]},
	{name: "server2022", summary: "Windows Server 2022 with Desktop Experience", server: true, releases: serverReleases[2:3]},
	{name: "server2025", summary: "Windows Server 2025 with Desktop Experience", server: true, releases: serverReleases[3:4]},
	{name: "server-core", summary: "Windows Server 2022 Server Core: no BitLocker or Defender cmdlets", server: true, releases: serverReleases[2:3], core: true},
	{name: "server2012r2", summary: "Windows Server 2012 R2, WinRM 2.0 limits: 150 KB envelopes, 15 operations per shell, ShellId only in the Create selector, quota faults as MSFT_WmiError; no Defender or LocalAccounts", server: true, releases: legacyReleases, legacy: true},
	{name: "de-de", summary: "Windows 10 Pro with German display language: quser (and its no-user text) and gpupdate in German", releases: workstationReleases[:1], editions: []string{"Pro"}, german: true},
	{name: "clm", summary: "Windows 11 Enterprise in Constrained Language mode (AppLocker/WDAC): the resident loop cannot start, method calls on .NET types are refused", releases: workstationReleases[1:], editions: []string{"Enterprise"}, clm: true},
	{name: "domain", summary: "Windows 11 Enterprise joined to the simulated domain (--domain): Basic off; Negotiate (Kerberos with a keytab, else NTLM) and Kerberos, messages sealed over HTTP (readable ones refused with HTTP 500); channel bindings required over HTTPS", releases: workstationReleases[1:], editions: []string{"Enterprise"}, domain: true},
}

// ProfileInfo describes one host profile.
type ProfileInfo struct {
	Name    string
	Summary string
	Server  bool
}

// Profiles lists the host profiles (for rmm sim --help).
func Profiles() []ProfileInfo {
	out := make([]ProfileInfo, len(hostProfiles))
	for i, p := range hostProfiles {
		out[i] = ProfileInfo{Name: p.name, Summary: p.summary, Server: p.server}
	}
	return out
}

func profileNamed(name string) *hostProfile {
	for _, p := range hostProfiles {
		if p.name == name {
			return p
		}
	}
	return nil
}

// profileSpec is a parsed Config.Profile.
type profileSpec struct {
	mixed  bool
	forced []*hostProfile // nil: by seed
}

// parseProfileSpec reads Config.Profile: "", "modern", "mixed", or
// profile names separated by commas.
func parseProfileSpec(s string) (profileSpec, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "", ProfileModern:
		return profileSpec{}, nil
	case ProfileMixed:
		return profileSpec{mixed: true}, nil
	}
	var spec profileSpec
	for name := range strings.SplitSeq(s, ",") {
		p := profileNamed(strings.TrimSpace(name))
		if p == nil {
			return spec, fmt.Errorf("unknown host profile %q (want %s, %s, or one or more of %s)", name, ProfileModern, ProfileMixed, profileNames())
		}
		if !slices.Contains(spec.forced, p) {
			spec.forced = append(spec.forced, p)
		}
	}
	return spec, nil
}

func profileNames() string {
	names := make([]string, len(hostProfiles))
	for i, p := range hostProfiles {
		names[i] = p.name
	}
	return strings.Join(names, ", ")
}

// choose gives host i its profile: nil keeps the host as the seed drew
// it (a modern release of its role). It draws from its own random stream,
// so the hosts of the default selection stay what they always were.
func (s profileSpec) choose(seed int64, i int, server bool) *hostProfile {
	switch {
	case len(s.forced) == 1:
		return s.forced[0]
	case len(s.forced) > 1:
		return s.forced[int(splitmix(uint64(seed)^uint64(i)*0x51)%uint64(len(s.forced)))]
	case !s.mixed:
		return nil
	}
	r := rand.New(rand.NewPCG(uint64(seed), 0x9f0f11e0+uint64(i)))
	n := r.IntN(100)
	if server {
		switch {
		case n < 15:
			return profileNamed("server-core")
		case n < 25:
			return profileNamed("server2012r2")
		}
		return nil
	}
	switch {
	case n < 10:
		return profileNamed("de-de")
	case n < 18:
		return profileNamed("clm")
	case n < 40:
		return profileNamed("domain")
	}
	return nil
}

// modernProfile names the profile of a host drawn by seed from the
// modern releases.
func modernProfile(server bool, rel *osRelease) *hostProfile {
	for _, p := range hostProfiles {
		if p.server != server || p.core || p.legacy || p.german || p.clm || p.domain {
			continue
		}
		for i := range p.releases {
			if p.releases[i].version == rel.version {
				return p
			}
		}
	}
	return nil
}
