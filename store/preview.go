package store

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// FieldChange is one value an import would change on a device, named by
// its CSV column.
type FieldChange struct {
	Field    string // the CSV column: IPAddress, Site, Tags, ...
	Old, New string
}

// PreviewInput is what importing in over stored would leave (an import's
// dry run): the same rules as UpsertDevices, where an empty cell keeps
// the stored value, a default port follows the transport and Groups
// replaces the membership. exists is false for a device not stored yet
// (stored is then ignored). It returns the changes, in CSV column order;
// none means the row repeats what is stored. The store's test checks it
// against what UpsertDevices writes.
func PreviewInput(stored Device, exists bool, in DeviceInput) []FieldChange {
	if !exists {
		stored = Device{}
	}
	return DiffDevices(stored, applyInput(stored, exists, in))
}

// applyInput is the device importing in over stored would leave.
func applyInput(stored Device, exists bool, in DeviceInput) Device {
	if !exists {
		stored = Device{Transport: "https", Auth: AuthBasic, Site: DefaultSite}
		stored.Port = DefaultPort("https")
	}
	after := stored
	set := func(dst *string, v string) {
		if strings.TrimSpace(v) != "" {
			*dst = v
		}
	}
	set(&after.FQDN, in.FQDN)
	set(&after.IP, in.IP)
	set(&after.MAC, in.MAC)
	set(&after.OSName, in.OSName)
	set(&after.OSVersion, in.OSVersion)
	set(&after.Description, in.Description)
	set(&after.CredentialID, in.CredentialID)
	if auth, err := ParseAuth(in.Auth); err == nil && auth != "" {
		after.Auth = auth
	}
	set(&after.CABundle, strings.TrimSpace(in.CABundle))
	if in.InsecureSkipVerify != nil {
		after.InsecureSkipVerify = *in.InsecureSkipVerify
	}
	if in.AllowUnencrypted != nil {
		after.AllowUnencrypted = *in.AllowUnencrypted
	}
	if in.LoopOff != nil {
		after.LoopOff = *in.LoopOff
	}
	transport := strings.ToLower(strings.TrimSpace(in.Transport))
	switch {
	case in.Port != 0:
		after.Port = in.Port
	case transport != "" && transport != after.Transport && after.Port == DefaultPort(after.Transport):
		after.Port = DefaultPort(transport)
	}
	if transport != "" {
		after.Transport = transport
	}
	if strings.TrimSpace(in.Site) != "" {
		after.Site = strings.TrimSpace(in.Site)
	}
	if len(in.Tags) > 0 {
		after.Tags = in.Tags
	}
	if len(in.Groups) > 0 {
		after.Groups = in.Groups
	}
	after.Custom = maps.Clone(stored.Custom)
	for k, v := range in.Custom {
		if strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
			continue
		}
		for old := range after.Custom {
			if strings.EqualFold(old, k) {
				delete(after.Custom, old)
			}
		}
		if after.Custom == nil {
			after.Custom = map[string]string{}
		}
		after.Custom[k] = v
	}
	return after
}

// DiffDevices lists what differs between two devices in the fields an
// import sets, named by CSV column, in column order.
func DiffDevices(stored, after Device) []FieldChange {
	var out []FieldChange
	diff := func(field, old, new string) {
		if old != new {
			out = append(out, FieldChange{Field: field, Old: old, New: new})
		}
	}
	fold := func(field, old, new string) {
		if !strings.EqualFold(old, new) {
			out = append(out, FieldChange{Field: field, Old: old, New: new})
		}
	}
	list := func(field string, old, new []string) {
		if !slices.EqualFunc(sortedFold(old), sortedFold(new), strings.EqualFold) {
			out = append(out, FieldChange{Field: field, Old: strings.Join(old, ","), New: strings.Join(new, ",")})
		}
	}
	b := strconv.FormatBool
	diff("FQDN", stored.FQDN, after.FQDN)
	diff("IPAddress", stored.IP, after.IP)
	diff("MACAddress", stored.MAC, after.MAC)
	fold("Site", stored.Site, after.Site)
	list("Groups", stored.Groups, after.Groups)
	diff("OSName", stored.OSName, after.OSName)
	diff("OSVersion", stored.OSVersion, after.OSVersion)
	list("Tags", stored.Tags, after.Tags)
	diff("Description", stored.Description, after.Description)
	diff("Port", strconv.Itoa(stored.Port), strconv.Itoa(after.Port))
	diff("Transport", stored.Transport, after.Transport)
	diff("CredentialId", stored.CredentialID, after.CredentialID)
	diff("Auth", stored.Auth, after.Auth)
	diff("CABundle", stored.CABundle, after.CABundle)
	diff("InsecureSkipVerify", b(stored.InsecureSkipVerify), b(after.InsecureSkipVerify))
	diff("AllowUnencrypted", b(stored.AllowUnencrypted), b(after.AllowUnencrypted))
	diff("Loop", loopWord(stored.LoopOff), loopWord(after.LoopOff))
	keys := slices.Sorted(maps.Keys(after.Custom))
	for _, k := range keys {
		diff(k, stored.Custom[k], after.Custom[k])
	}
	return out
}

func loopWord(off bool) string {
	if off {
		return "off"
	}
	return "on"
}

func sortedFold(s []string) []string {
	out := slices.Clone(s)
	slices.SortFunc(out, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return out
}

// String is "Site: hq -> lon".
func (c FieldChange) String() string {
	return fmt.Sprintf("%s: %q -> %q", c.Field, c.Old, c.New)
}
