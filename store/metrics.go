package store

import (
	"context"
	"fmt"
	"time"
)

// MetricsSince returns the samples of one metric type of one device taken
// at or after since, oldest first (instances of the same instant ordered
// by name).
func (db *DB) MetricsSince(ctx context.Context, deviceID int64, typ string, since time.Time) ([]Metric, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT instance, value, ts FROM metrics
		WHERE device_id = ? AND type = ? AND ts >= ? ORDER BY ts, instance`, deviceID, typ, toMS(since))
	if err != nil {
		return nil, fmt.Errorf("metrics %s of device %d: %w", typ, deviceID, err)
	}
	defer rows.Close()
	var out []Metric
	for rows.Next() {
		m := Metric{DeviceID: deviceID, Type: typ}
		var ts int64
		if err := rows.Scan(&m.Instance, &m.Value, &ts); err != nil {
			return nil, fmt.Errorf("metrics %s of device %d: %w", typ, deviceID, err)
		}
		m.At = time.UnixMilli(ts).UTC()
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("metrics %s of device %d: %w", typ, deviceID, err)
	}
	return out, nil
}
