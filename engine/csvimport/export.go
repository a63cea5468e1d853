package csvimport

import (
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rmmhq/rmm/csvsafe"
	"github.com/rmmhq/rmm/store"
)

// importColumns are the columns WriteDevices writes that Import reads
// back, under the names Import knows them by.
var importColumns = []string{"Hostname", "FQDN", "IPAddress", "MACAddress", "Site", "Groups", "OSName", "OSVersion", "Tags",
	"Description", "Port", "Transport", "CredentialId", "Auth", "CABundle", "InsecureSkipVerify", "AllowUnencrypted", "Loop"}

// reportColumns are what rmm knows about a device beyond what an import
// sets: Import reads them as nothing, so an exported file imports back
// unchanged.
var reportColumns = []string{"Status", "LastSeen", "CPU", "Mem", "DiskFree", "LastError"}

// ExportColumns are the columns WriteDevices writes before the custom
// fields: every column Import reads, then the report columns.
func ExportColumns() []string { return append(slices.Clone(importColumns), reportColumns...) }

// WriteDevices writes devices as the CSV Import reads: ExportColumns,
// then one column per custom field (sorted by name; empty where a device
// has none, which an import reads as "keep"). Groups and tags are
// separated by ";". Cells from hosts or people go through csvsafe.Cell,
// which Import undoes, so the file imports back unchanged; times are RFC
// 3339 UTC, metrics empty until a poll worked.
func WriteDevices(w io.Writer, ds []store.Device) error {
	custom := map[string]bool{}
	for _, d := range ds {
		for k := range d.Custom {
			custom[k] = true
		}
	}
	keys := slices.Sorted(maps.Keys(custom))
	cw := csvsafe.NewWriter(w)
	if err := cw.Header(append(ExportColumns(), keys...)); err != nil {
		return err
	}
	// Cells rmm computes or validates itself: never neutralised.
	computed := []int{10, 11, 13, 15, 16, 17, 18, 19, 20, 21, 22}
	for _, d := range ds {
		cpu, mem, disk, seen := "", "", "", ""
		if d.HasMetrics {
			cpu, mem, disk = num(d.CPUPct), num(d.MemPct), num(d.DiskFreePct)
		}
		if !d.LastSeen.IsZero() {
			seen = d.LastSeen.UTC().Format(time.RFC3339)
		}
		port := ""
		if d.Port != 0 {
			port = strconv.Itoa(d.Port)
		}
		loop := "on"
		if d.LoopOff {
			loop = "off"
		}
		row := []string{d.Hostname, d.FQDN, d.IP, d.MAC, d.Site, strings.Join(d.Groups, ";"), d.OSName, d.OSVersion,
			strings.Join(d.Tags, ";"), d.Description, port, d.Transport, d.CredentialID, d.Auth, d.CABundle,
			strconv.FormatBool(d.InsecureSkipVerify), strconv.FormatBool(d.AllowUnencrypted), loop,
			d.Status, seen, cpu, mem, disk, d.LastError}
		for _, k := range keys {
			row = append(row, d.Custom[k])
		}
		if err := cw.Row(row, computed...); err != nil {
			return err
		}
	}
	return cw.Flush()
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
