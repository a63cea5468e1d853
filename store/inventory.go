package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Inventory is one stored inventory document: the latest collection of
// one category (hardware, software, security, network) of one device.
type Inventory struct {
	DeviceID    int64
	Category    string
	Data        json.RawMessage // the engine's JSON document
	CollectedAt time.Time
}

// PutInventory stores a device's latest document of a category, replacing
// the one before.
func (db *DB) PutInventory(ctx context.Context, inv Inventory) error {
	if inv.Category == "" {
		return errors.New("put inventory: empty category")
	}
	if !json.Valid(inv.Data) {
		return fmt.Errorf("put inventory %s of device %d: data is not JSON", inv.Category, inv.DeviceID)
	}
	_, err := db.writer.ExecContext(ctx, `INSERT INTO inventory (device_id, category, data, collected_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (device_id, category) DO UPDATE SET data = excluded.data, collected_at = excluded.collected_at`,
		inv.DeviceID, inv.Category, string(inv.Data), toMS(inv.CollectedAt))
	if err != nil {
		return fmt.Errorf("put inventory %s of device %d: %w", inv.Category, inv.DeviceID, err)
	}
	return nil
}

// GetInventory returns a device's stored document of a category; the
// error wraps ErrNotFound when none was collected.
func (db *DB) GetInventory(ctx context.Context, deviceID int64, category string) (Inventory, error) {
	inv := Inventory{DeviceID: deviceID, Category: category}
	var (
		data string
		at   sql.NullInt64
	)
	err := db.reader.QueryRowContext(ctx, `SELECT data, collected_at FROM inventory WHERE device_id = ? AND category = ?`,
		deviceID, category).Scan(&data, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return inv, fmt.Errorf("inventory %s of device %d: %w", category, deviceID, ErrNotFound)
	}
	if err != nil {
		return inv, fmt.Errorf("inventory %s of device %d: %w", category, deviceID, err)
	}
	inv.Data, inv.CollectedAt = json.RawMessage(data), fromMS(at)
	return inv, nil
}

// InventoryCollected returns when each device's document of a category
// was collected (devices without one are absent), for deciding which are
// due without reading the documents.
func (db *DB) InventoryCollected(ctx context.Context, category string) (map[int64]time.Time, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT device_id, collected_at FROM inventory WHERE category = ?`, category)
	if err != nil {
		return nil, fmt.Errorf("inventory ages of %s: %w", category, err)
	}
	defer rows.Close()
	out := map[int64]time.Time{}
	for rows.Next() {
		var (
			id int64
			at sql.NullInt64
		)
		if err := rows.Scan(&id, &at); err != nil {
			return nil, fmt.Errorf("inventory ages of %s: %w", category, err)
		}
		out[id] = fromMS(at)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("inventory ages of %s: %w", category, err)
	}
	return out, nil
}

// DevicePollCountSince counts one device's poll_ok samples since since
// (see PollCountsSince), for its availability over a window.
func (db *DB) DevicePollCountSince(ctx context.Context, deviceID int64, since time.Time) (PollCount, error) {
	var (
		c  PollCount
		ok sql.NullInt64
	)
	err := db.reader.QueryRowContext(ctx, `SELECT sum(value > 0), count(*) FROM metrics
		WHERE device_id = ? AND type = 'poll_ok' AND ts >= ?`, deviceID, toMS(since)).Scan(&ok, &c.Total)
	if err != nil {
		return c, fmt.Errorf("poll count of device %d: %w", deviceID, err)
	}
	c.OK = int(ok.Int64)
	return c, nil
}

// InventoryOf returns every device's stored document of a category.
func (db *DB) InventoryOf(ctx context.Context, category string) ([]Inventory, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT device_id, data, collected_at FROM inventory WHERE category = ? ORDER BY device_id`, category)
	if err != nil {
		return nil, fmt.Errorf("inventory %s: %w", category, err)
	}
	defer rows.Close()
	var out []Inventory
	for rows.Next() {
		inv := Inventory{Category: category}
		var (
			data string
			at   sql.NullInt64
		)
		if err := rows.Scan(&inv.DeviceID, &data, &at); err != nil {
			return nil, fmt.Errorf("inventory %s: %w", category, err)
		}
		inv.Data, inv.CollectedAt = json.RawMessage(data), fromMS(at)
		out = append(out, inv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("inventory %s: %w", category, err)
	}
	return out, nil
}

// EachInventory calls fn with every device's stored document of a
// category, one at a time in device order, without holding them all in
// memory; an error from fn stops the walk and is returned.
func (db *DB) EachInventory(ctx context.Context, category string, fn func(Inventory) error) error {
	rows, err := db.reader.QueryContext(ctx, `SELECT device_id, data, collected_at FROM inventory WHERE category = ? ORDER BY device_id`, category)
	if err != nil {
		return fmt.Errorf("inventory %s: %w", category, err)
	}
	defer rows.Close()
	for rows.Next() {
		inv := Inventory{Category: category}
		var (
			data []byte
			at   sql.NullInt64
		)
		if err := rows.Scan(&inv.DeviceID, &data, &at); err != nil {
			return fmt.Errorf("inventory %s: %w", category, err)
		}
		inv.Data, inv.CollectedAt = json.RawMessage(data), fromMS(at)
		if err := fn(inv); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("inventory %s: %w", category, err)
	}
	return nil
}
