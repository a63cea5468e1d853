package engine

import (
	"context"
	"fmt"
	"time"
)

// DeviceDetail is everything the console's device view shows about one
// device: its live state and its stored identity.
type DeviceDetail struct {
	State        DeviceState
	FQDN         string
	IP           string
	MAC          string
	OSName       string
	OSVersion    string
	Description  string
	Transport    string // "http" or "https"
	Auth         string // "basic", "negotiate", "kerberos" or "ntlm"
	Port         int
	CredentialID string
	Groups       []string
	Tags         []string
	Custom       map[string]string
	Endpoint     string // the WS-Man URL rmm connects to
}

// MetricPoint is one stored sample.
type MetricPoint struct {
	At       time.Time
	Instance string // e.g. "C:" for a volume
	Value    float64
}

// Detail returns the device with id, or an error when there is none.
func (e *Engine) Detail(ctx context.Context, id int64) (DeviceDetail, error) {
	e.mu.RLock()
	en, ok := e.devices[id]
	var d DeviceDetail
	if ok {
		dev := en.dev
		d = DeviceDetail{
			State: en.state, FQDN: dev.FQDN, IP: dev.IP, MAC: dev.MAC, OSName: dev.OSName, OSVersion: dev.OSVersion,
			Description: dev.Description, Transport: dev.Transport, Auth: dev.Auth, Port: dev.Port, CredentialID: dev.CredentialID,
			Groups: append([]string(nil), dev.Groups...), Tags: append([]string(nil), dev.Tags...),
			Custom: make(map[string]string, len(dev.Custom)), Endpoint: en.target.URL(),
		}
		for k, v := range dev.Custom {
			d.Custom[k] = v
		}
	}
	e.mu.RUnlock()
	if !ok {
		return DeviceDetail{}, fmt.Errorf("device %d: not found", id)
	}
	return d, nil
}

// History returns the stored samples of one metric ("cpu_pct", "mem_pct",
// "disk_free_pct", "disk_free_gb") of a device since a time, oldest first.
func (e *Engine) History(ctx context.Context, id int64, metric string, since time.Time) ([]MetricPoint, error) {
	rows, err := e.db.MetricsSince(ctx, id, metric, since)
	if err != nil {
		return nil, fmt.Errorf("history of device %d %s: %w", id, metric, err)
	}
	out := make([]MetricPoint, len(rows))
	for i, r := range rows {
		out[i] = MetricPoint{At: r.At, Instance: r.Instance, Value: r.Value}
	}
	return out, nil
}
