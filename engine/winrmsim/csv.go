package winrmsim

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// csvHeader is the column set `rmm import` reads. HTTP hosts that take
// Basic are marked AllowUnencrypted (rmm refuses Basic over plain HTTP
// unless the device is marked); joined hosts have their FQDN and Auth
// negotiate, and need no mark: their messages are sealed.
var csvHeader = []string{"Hostname", "IPAddress", "Port", "Transport", "Site", "OSName", "OSVersion", "MACAddress", "Tags", "AllowUnencrypted", "FQDN", "Auth"}

// WriteCSV writes the fleet as a device list for `rmm import`: one row per
// host in Hosts order, tags as one comma-separated (and so quoted) field.
// Ports must be known: call it after Start, or set Config.BasePort.
func (f *Fleet) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("winrmsim: write csv: %w", err)
	}
	for _, h := range f.Hosts() {
		if h.Port == 0 {
			return fmt.Errorf("winrmsim: write csv: %s has no port yet; call Start first or set BasePort", h.Hostname)
		}
		unencrypted := ""
		if h.Transport == "http" && h.Auth == "" {
			unencrypted = "true"
		}
		row := []string{h.Hostname, h.IP, strconv.Itoa(h.Port), h.Transport, h.Site, h.OSName, h.OSVersion, h.MAC,
			strings.Join(h.Tags, ","), unencrypted, h.FQDN, h.Auth}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("winrmsim: write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("winrmsim: write csv: %w", err)
	}
	return nil
}
