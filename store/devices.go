package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// DefaultSite is the site of devices imported without one.
const DefaultSite = "main"

// Default WinRM ports.
const (
	PortHTTP  = 5985
	PortHTTPS = 5986
)

// WinRM authentication methods (Device.Auth).
const (
	AuthBasic    = "basic"
	AuthNTLM     = "ntlm"
	AuthKerberos = "kerberos"
	// AuthNegotiate is Kerberos, and NTLM where Kerberos cannot be used.
	AuthNegotiate = "negotiate"
)

// ParseAuth reads an authentication method in any case; "" is "" (the
// stored or default method).
func ParseAuth(s string) (string, error) {
	switch a := strings.ToLower(strings.TrimSpace(s)); a {
	case "", AuthBasic, AuthNegotiate, AuthNTLM, AuthKerberos:
		return a, nil
	}
	return "", fmt.Errorf("auth %q: want basic, negotiate, kerberos or ntlm", s)
}

// DefaultPort returns the WinRM port for a transport: 5985 for http,
// 5986 for anything else (https is the default transport).
func DefaultPort(transport string) int {
	if strings.EqualFold(transport, "http") {
		return PortHTTP
	}
	return PortHTTPS
}

// UpsertDevices adds or updates devices in one transaction: either every
// input is stored or none is. A device is matched on hostname, case-
// insensitively. On update only the non-empty input fields overwrite
// (Tags and Groups replace the stored lists when given), Custom is merged
// key by key (keys compared case-insensitively), and the stored hostname
// keeps its spelling. Missing sites and groups are created by name. A new
// device without a port gets its transport's default; on update, a
// transport change without a port moves a default port along with it.
func (db *DB) UpsertDevices(ctx context.Context, in []DeviceInput) (ImportResult, error) {
	var res ImportResult
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		u, err := newUpserter(ctx, tx, db.now().UTC().UnixMilli())
		if err != nil {
			return err
		}
		defer u.close()
		for i, d := range in {
			added, err := u.upsert(ctx, d)
			if err != nil {
				return fmt.Errorf("device %d (%s): %w", i+1, d.Hostname, err)
			}
			if added {
				res.Added++
			} else {
				res.Updated++
			}
		}
		return nil
	})
	if err != nil {
		return ImportResult{}, fmt.Errorf("upsert devices: %w", err)
	}
	return res, nil
}

// UpsertDeviceStream is UpsertDevices for devices that come one at a
// time (a CSV read row by row, see csvimport.Stream): each calls put for
// every device, and the transaction commits only when each returns nil;
// on any error nothing is stored. Memory stays bounded whatever the
// number of devices.
func (db *DB) UpsertDeviceStream(ctx context.Context, each func(put func(DeviceInput) error) error) (ImportResult, error) {
	var res ImportResult
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		u, err := newUpserter(ctx, tx, db.now().UTC().UnixMilli())
		if err != nil {
			return err
		}
		defer u.close()
		n := 0
		return each(func(d DeviceInput) error {
			n++
			added, err := u.upsert(ctx, d)
			if err != nil {
				return fmt.Errorf("device %d (%s): %w", n, d.Hostname, err)
			}
			if added {
				res.Added++
			} else {
				res.Updated++
			}
			return nil
		})
	})
	if err != nil {
		return ImportResult{}, fmt.Errorf("upsert devices: %w", err)
	}
	return res, nil
}

// writeTx runs fn in one write transaction on the writer connection and
// commits when fn returns nil.
func (db *DB) writeTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// upserter holds the prepared statements and name caches of one
// UpsertDevices transaction.
type upserter struct {
	tx       *sql.Tx
	now      int64
	sites    map[string]int64
	groups   map[string]int64
	find     *sql.Stmt
	insert   *sql.Stmt
	update   *sql.Stmt
	clearGrp *sql.Stmt
	addGrp   *sql.Stmt
	stmts    []*sql.Stmt
}

func newUpserter(ctx context.Context, tx *sql.Tx, now int64) (*upserter, error) {
	u := &upserter{tx: tx, now: now, sites: map[string]int64{}, groups: map[string]int64{}}
	prep := func(dst **sql.Stmt, q string) error {
		s, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		*dst = s
		u.stmts = append(u.stmts, s)
		return nil
	}
	for _, p := range []struct {
		dst **sql.Stmt
		q   string
	}{
		{&u.find, `SELECT id, fqdn, ip, mac, site_id, os_name, os_version, tags, description,
			port, transport, credential_id, custom_fields, auth, ca_bundle, insecure_skip_verify,
			allow_unencrypted, loop_off FROM devices WHERE hostname = ?`},
		{&u.insert, `INSERT INTO devices (hostname, fqdn, ip, mac, site_id, os_name, os_version, tags,
			description, port, transport, credential_id, custom_fields, auth, ca_bundle,
			insecure_skip_verify, allow_unencrypted, loop_off, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`},
		{&u.update, `UPDATE devices SET fqdn = ?, ip = ?, mac = ?, site_id = ?, os_name = ?, os_version = ?,
			tags = ?, description = ?, port = ?, transport = ?, credential_id = ?, custom_fields = ?,
			auth = ?, ca_bundle = ?, insecure_skip_verify = ?, allow_unencrypted = ?, loop_off = ?,
			updated_at = ? WHERE id = ?`},
		{&u.clearGrp, `DELETE FROM device_group_members WHERE device_id = ?`},
		{&u.addGrp, `INSERT OR IGNORE INTO device_group_members (group_id, device_id) VALUES (?, ?)`},
	} {
		if err := prep(p.dst, p.q); err != nil {
			u.close()
			return nil, err
		}
	}
	return u, nil
}

func (u *upserter) close() {
	for _, s := range u.stmts {
		s.Close()
	}
}

// storedDevice is the part of a device row an import can change.
type storedDevice struct {
	id                                   int64
	fqdn, ip, mac                        string
	siteID                               int64
	osName, osVersion, tags, description string
	port                                 int
	transport, credentialID, custom      string
	auth, caBundle                       string
	insecure, unencrypted, loopOff       bool
}

func (u *upserter) upsert(ctx context.Context, in DeviceInput) (added bool, err error) {
	host := strings.TrimSpace(in.Hostname)
	if host == "" {
		return false, errors.New("empty hostname")
	}
	transport := strings.ToLower(strings.TrimSpace(in.Transport))
	if transport != "" && transport != "http" && transport != "https" {
		return false, fmt.Errorf("transport %q: want http or https", in.Transport)
	}
	if _, err := ParseAuth(in.Auth); err != nil {
		return false, err
	}

	var s storedDevice
	err = u.find.QueryRowContext(ctx, host).Scan(&s.id, &s.fqdn, &s.ip, &s.mac, &s.siteID,
		&s.osName, &s.osVersion, &s.tags, &s.description, &s.port, &s.transport, &s.credentialID, &s.custom,
		&s.auth, &s.caBundle, &s.insecure, &s.unencrypted, &s.loopOff)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return true, u.add(ctx, host, transport, in)
	case err != nil:
		return false, fmt.Errorf("find: %w", err)
	}
	return false, u.change(ctx, s, transport, in)
}

func (u *upserter) add(ctx context.Context, host, transport string, in DeviceInput) error {
	if transport == "" {
		transport = "https"
	}
	port := in.Port
	if port == 0 {
		port = DefaultPort(transport)
	}
	site := in.Site
	if strings.TrimSpace(site) == "" {
		site = DefaultSite
	}
	siteID, err := u.siteID(ctx, site)
	if err != nil {
		return err
	}
	tags, err := encodeTags(in.Tags)
	if err != nil {
		return err
	}
	custom, err := mergeCustom("{}", in.Custom)
	if err != nil {
		return err
	}
	auth, _ := ParseAuth(in.Auth) // checked by upsert
	if auth == "" {
		auth = AuthBasic
	}
	var id int64
	err = u.insert.QueryRowContext(ctx, host, in.FQDN, in.IP, in.MAC, siteID, in.OSName, in.OSVersion,
		tags, in.Description, port, transport, in.CredentialID, custom, auth, strings.TrimSpace(in.CABundle),
		boolValue(in.InsecureSkipVerify), boolValue(in.AllowUnencrypted), boolValue(in.LoopOff), u.now, u.now).Scan(&id)
	if err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	return u.setGroups(ctx, id, in.Groups, false)
}

func (u *upserter) change(ctx context.Context, s storedDevice, transport string, in DeviceInput) error {
	set := func(dst *string, v string) {
		if strings.TrimSpace(v) != "" {
			*dst = v
		}
	}
	set(&s.fqdn, in.FQDN)
	set(&s.ip, in.IP)
	set(&s.mac, in.MAC)
	set(&s.osName, in.OSName)
	set(&s.osVersion, in.OSVersion)
	set(&s.description, in.Description)
	set(&s.credentialID, in.CredentialID)
	if auth, _ := ParseAuth(in.Auth); auth != "" { // checked by upsert
		s.auth = auth
	}
	set(&s.caBundle, strings.TrimSpace(in.CABundle))
	if in.InsecureSkipVerify != nil {
		s.insecure = *in.InsecureSkipVerify
	}
	if in.AllowUnencrypted != nil {
		s.unencrypted = *in.AllowUnencrypted
	}
	if in.LoopOff != nil {
		s.loopOff = *in.LoopOff
	}
	switch {
	case in.Port != 0:
		s.port = in.Port
	case transport != "" && transport != s.transport && s.port == DefaultPort(s.transport):
		s.port = DefaultPort(transport) // a default port follows the transport
	}
	if transport != "" {
		s.transport = transport
	}
	if strings.TrimSpace(in.Site) != "" {
		id, err := u.siteID(ctx, in.Site)
		if err != nil {
			return err
		}
		s.siteID = id
	}
	if len(in.Tags) > 0 {
		tags, err := encodeTags(in.Tags)
		if err != nil {
			return err
		}
		s.tags = tags
	}
	custom, err := mergeCustom(s.custom, in.Custom)
	if err != nil {
		return err
	}
	s.custom = custom
	if _, err := u.update.ExecContext(ctx, s.fqdn, s.ip, s.mac, s.siteID, s.osName, s.osVersion, s.tags,
		s.description, s.port, s.transport, s.credentialID, s.custom, s.auth, s.caBundle, s.insecure, s.unencrypted,
		s.loopOff, u.now, s.id); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	return u.setGroups(ctx, s.id, in.Groups, true)
}

// boolValue is a tri-state input as stored: nil is false.
func boolValue(b *bool) bool { return b != nil && *b }

// setGroups makes the device a member of exactly the named groups; no
// names leaves the membership as it is.
func (u *upserter) setGroups(ctx context.Context, deviceID int64, names []string, replace bool) error {
	var ids []int64
	for _, n := range names {
		if strings.TrimSpace(n) == "" {
			continue
		}
		id, err := u.groupID(ctx, n)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil
	}
	if replace {
		if _, err := u.clearGrp.ExecContext(ctx, deviceID); err != nil {
			return fmt.Errorf("clear groups: %w", err)
		}
	}
	for _, id := range ids {
		if _, err := u.addGrp.ExecContext(ctx, id, deviceID); err != nil {
			return fmt.Errorf("add to group: %w", err)
		}
	}
	return nil
}

func (u *upserter) siteID(ctx context.Context, name string) (int64, error) {
	return u.named(ctx, "sites", "site", u.sites, name)
}

func (u *upserter) groupID(ctx context.Context, name string) (int64, error) {
	return u.named(ctx, "device_groups", "group", u.groups, name)
}

// named returns the id of the row called name in table (sites or
// device_groups), creating the row when missing. label names the kind of
// row in errors.
func (u *upserter) named(ctx context.Context, table, label string, cache map[string]int64, name string) (int64, error) {
	name = strings.TrimSpace(name)
	key := strings.ToLower(name)
	if id, ok := cache[key]; ok {
		return id, nil
	}
	var id int64
	err := u.tx.QueryRowContext(ctx, `SELECT id FROM `+table+` WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		err = u.tx.QueryRowContext(ctx,
			`INSERT INTO `+table+` (name, created_at) VALUES (?, ?) RETURNING id`, name, u.now).Scan(&id)
	}
	if err != nil {
		return 0, fmt.Errorf("%s %q: %w", label, name, err)
	}
	cache[key] = id
	return id, nil
}

// encodeTags stores tags as a JSON array, trimmed, without empty or
// case-insensitively repeated entries.
func encodeTags(tags []string) (string, error) {
	out := make([]string, 0, len(tags))
	seen := map[string]bool{}
	for _, t := range tags {
		t = strings.TrimSpace(t)
		if t == "" || seen[strings.ToLower(t)] {
			continue
		}
		seen[strings.ToLower(t)] = true
		out = append(out, t)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("encode tags: %w", err)
	}
	return string(b), nil
}

// mergeCustom merges in into the stored JSON object: a key given in in
// replaces the stored key that equals it case-insensitively; empty values
// are ignored.
func mergeCustom(stored string, in map[string]string) (string, error) {
	m := map[string]string{}
	if stored != "" {
		if err := json.Unmarshal([]byte(stored), &m); err != nil {
			return "", fmt.Errorf("decode custom fields: %w", err)
		}
	}
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic when in holds keys differing only in case
	for _, k := range keys {
		v := in[k]
		if strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
			continue
		}
		for old := range m {
			if strings.EqualFold(old, k) {
				delete(m, old)
			}
		}
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode custom fields: %w", err)
	}
	return string(b), nil
}

// deviceColumns is what ListDevices and DeviceByHostname select, in the
// order scanDevice reads.
const deviceColumns = `d.id, d.hostname, d.fqdn, d.ip, d.mac, s.name, d.os_name, d.os_version, d.tags,
	d.description, d.port, d.transport, d.credential_id, d.custom_fields, d.auth, d.ca_bundle,
	d.insecure_skip_verify, d.allow_unencrypted, d.loop_off, d.status, d.last_seen,
	d.last_error, d.cpu_pct, d.mem_pct, d.disk_free_pct, d.metrics_at,
	(SELECT json_group_array(g.name ORDER BY g.name)
	   FROM device_group_members m JOIN device_groups g ON g.id = m.group_id
	  WHERE m.device_id = d.id)
	FROM devices d JOIN sites s ON s.id = d.site_id`

type rowScanner interface{ Scan(dest ...any) error }

func scanDevice(r rowScanner) (Device, error) {
	var (
		d                    Device
		tags, custom, groups string
		lastSeen, metricsAt  sql.NullInt64
		cpu, mem, disk       sql.NullFloat64
	)
	if err := r.Scan(&d.ID, &d.Hostname, &d.FQDN, &d.IP, &d.MAC, &d.Site, &d.OSName, &d.OSVersion, &tags,
		&d.Description, &d.Port, &d.Transport, &d.CredentialID, &custom, &d.Auth, &d.CABundle,
		&d.InsecureSkipVerify, &d.AllowUnencrypted, &d.LoopOff, &d.Status, &lastSeen,
		&d.LastError, &cpu, &mem, &disk, &metricsAt, &groups); err != nil {
		return Device{}, err
	}
	if err := json.Unmarshal([]byte(tags), &d.Tags); err != nil {
		return Device{}, fmt.Errorf("device %s: decode tags: %w", d.Hostname, err)
	}
	if err := json.Unmarshal([]byte(custom), &d.Custom); err != nil {
		return Device{}, fmt.Errorf("device %s: decode custom fields: %w", d.Hostname, err)
	}
	if err := json.Unmarshal([]byte(groups), &d.Groups); err != nil {
		return Device{}, fmt.Errorf("device %s: decode groups: %w", d.Hostname, err)
	}
	if len(d.Tags) == 0 {
		d.Tags = nil
	}
	if len(d.Groups) == 0 {
		d.Groups = nil
	}
	if len(d.Custom) == 0 {
		d.Custom = nil
	}
	d.LastSeen = fromMS(lastSeen)
	d.MetricsAt = fromMS(metricsAt)
	d.HasMetrics = metricsAt.Valid
	d.CPUPct, d.MemPct, d.DiskFreePct = cpu.Float64, mem.Float64, disk.Float64
	return d, nil
}

// ListDevices returns every device ordered by hostname (case-insensitively),
// with its site name, groups, tags and custom fields decoded.
func (db *DB) ListDevices(ctx context.Context) ([]Device, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+deviceColumns+` ORDER BY d.hostname`)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	var out []Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("list devices: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return out, nil
}

// DeviceByHostname returns the device called name (case-insensitively).
// The error wraps ErrNotFound when there is none.
func (db *DB) DeviceByHostname(ctx context.Context, name string) (Device, error) {
	d, err := scanDevice(db.reader.QueryRowContext(ctx, `SELECT `+deviceColumns+` WHERE d.hostname = ?`,
		strings.TrimSpace(name)))
	if errors.Is(err, sql.ErrNoRows) {
		return Device{}, fmt.Errorf("device %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return Device{}, fmt.Errorf("device %s: %w", name, err)
	}
	return d, nil
}

// CountDevices returns the number of devices.
func (db *DB) CountDevices(ctx context.Context) (int, error) {
	var n int
	if err := db.reader.QueryRowContext(ctx, `SELECT count(*) FROM devices`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count devices: %w", err)
	}
	return n, nil
}

// Sites returns the site names, ordered case-insensitively.
func (db *DB) Sites(ctx context.Context) ([]string, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT name FROM sites ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list sites: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list sites: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sites: %w", err)
	}
	return out, nil
}

// queryAll runs query on the reader pool and scans every row with scan;
// what names the query in errors ("list queue").
func queryAll[T any](ctx context.Context, db *DB, what string, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// DeviceTrust is what decides where a device's credential goes and how it
// travels: the fields an import by a non-Admin may not change
// (engine/devices_trust.go), read without the rest of the device.
type DeviceTrust struct {
	CredentialID, Transport, Auth, CABundle string
	IP, FQDN                                string
	Port                                    int
	InsecureSkipVerify, AllowUnencrypted    bool
}

// TrustLookup reads DeviceTrust by hostname through one prepared
// statement on the reader pool. Close it when done.
type TrustLookup struct{ stmt *sql.Stmt }

// NewTrustLookup prepares a TrustLookup.
func (db *DB) NewTrustLookup(ctx context.Context) (*TrustLookup, error) {
	stmt, err := db.reader.PrepareContext(ctx, `SELECT credential_id, transport, auth, ca_bundle, ip, fqdn, port,
		insecure_skip_verify, allow_unencrypted FROM devices WHERE hostname = ?`)
	if err != nil {
		return nil, fmt.Errorf("prepare trust lookup: %w", err)
	}
	return &TrustLookup{stmt: stmt}, nil
}

// Get returns the stored trust fields of the device called name
// (case-insensitively); ok is false when there is none.
func (l *TrustLookup) Get(ctx context.Context, name string) (t DeviceTrust, ok bool, err error) {
	err = l.stmt.QueryRowContext(ctx, strings.TrimSpace(name)).Scan(&t.CredentialID, &t.Transport, &t.Auth, &t.CABundle,
		&t.IP, &t.FQDN, &t.Port, &t.InsecureSkipVerify, &t.AllowUnencrypted)
	if errors.Is(err, sql.ErrNoRows) {
		return DeviceTrust{}, false, nil
	}
	if err != nil {
		return DeviceTrust{}, false, fmt.Errorf("device %s: %w", name, err)
	}
	return t, true, nil
}

// Close releases the statement.
func (l *TrustLookup) Close() error { return l.stmt.Close() }
