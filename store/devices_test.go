package store

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestUpsertDevices(t *testing.T) {
	full := DeviceInput{
		Hostname: "WS-001", FQDN: "ws-001.corp.example", IP: "10.0.0.1", MAC: "00-15-5D-01-02-03",
		Site: "Berlin", Groups: []string{"Finance", "Laptops"}, OSName: "Windows 11 Pro", OSVersion: "10.0.22631",
		Tags: []string{"vip", "floor-2"}, Description: "CFO laptop", Port: 5986, Transport: "https",
		CredentialID: "corp-admin", Custom: map[string]string{"Owner": "alice", "AssetTag": "A-17"},
	}
	tests := []struct {
		name   string
		seed   []DeviceInput
		in     []DeviceInput
		result ImportResult
		want   Device // compared on the identity fields only
	}{
		{
			name:   "a new device is added with every field",
			in:     []DeviceInput{full},
			result: ImportResult{Added: 1},
			want: Device{Hostname: "WS-001", FQDN: "ws-001.corp.example", IP: "10.0.0.1", MAC: "00-15-5D-01-02-03",
				Site: "Berlin", Groups: []string{"Finance", "Laptops"}, OSName: "Windows 11 Pro", OSVersion: "10.0.22631",
				Tags: []string{"vip", "floor-2"}, Description: "CFO laptop", Port: 5986, Transport: "https",
				CredentialID: "corp-admin", Custom: map[string]string{"Owner": "alice", "AssetTag": "A-17"}},
		},
		{
			name:   "a bare device gets site main, https and port 5986",
			in:     []DeviceInput{{Hostname: "WS-002"}},
			result: ImportResult{Added: 1},
			want:   Device{Hostname: "WS-002", Site: "main", Port: 5986, Transport: "https"},
		},
		{
			name:   "an http device without a port gets 5985",
			in:     []DeviceInput{{Hostname: "WS-003", Transport: "HTTP"}},
			result: ImportResult{Added: 1},
			want:   Device{Hostname: "WS-003", Site: "main", Port: 5985, Transport: "http"},
		},
		{
			name:   "an existing device matched in another case is updated and keeps its spelling",
			seed:   []DeviceInput{full},
			in:     []DeviceInput{{Hostname: "ws-001", IP: "10.0.0.99", Description: "spare"}},
			result: ImportResult{Updated: 1},
			want: Device{Hostname: "WS-001", FQDN: "ws-001.corp.example", IP: "10.0.0.99", MAC: "00-15-5D-01-02-03",
				Site: "Berlin", Groups: []string{"Finance", "Laptops"}, OSName: "Windows 11 Pro", OSVersion: "10.0.22631",
				Tags: []string{"vip", "floor-2"}, Description: "spare", Port: 5986, Transport: "https",
				CredentialID: "corp-admin", Custom: map[string]string{"Owner": "alice", "AssetTag": "A-17"}},
		},
		{
			name: "custom fields merge and tags, groups and site are replaced when given",
			seed: []DeviceInput{full},
			in: []DeviceInput{{Hostname: "WS-001", Site: "Paris", Groups: []string{"Sales"}, Tags: []string{"loaner"},
				Custom: map[string]string{"owner": "bob", "Room": "3.14", "AssetTag": ""}}},
			result: ImportResult{Updated: 1},
			want: Device{Hostname: "WS-001", FQDN: "ws-001.corp.example", IP: "10.0.0.1", MAC: "00-15-5D-01-02-03",
				Site: "Paris", Groups: []string{"Sales"}, OSName: "Windows 11 Pro", OSVersion: "10.0.22631",
				Tags: []string{"loaner"}, Description: "CFO laptop", Port: 5986, Transport: "https",
				CredentialID: "corp-admin", Custom: map[string]string{"owner": "bob", "AssetTag": "A-17", "Room": "3.14"}},
		},
		{
			name:   "a transport change moves a default port along",
			seed:   []DeviceInput{{Hostname: "WS-004"}},
			in:     []DeviceInput{{Hostname: "WS-004", Transport: "http"}},
			result: ImportResult{Updated: 1},
			want:   Device{Hostname: "WS-004", Site: "main", Port: 5985, Transport: "http"},
		},
		{
			name:   "a transport change keeps a custom port",
			seed:   []DeviceInput{{Hostname: "WS-005", Port: 15986}},
			in:     []DeviceInput{{Hostname: "WS-005", Transport: "http"}},
			result: ImportResult{Updated: 1},
			want:   Device{Hostname: "WS-005", Site: "main", Port: 15986, Transport: "http"},
		},
		{
			name: "transport security fields are stored",
			in: []DeviceInput{{Hostname: "WS-008", Transport: "http", Auth: "NTLM", CABundle: " /etc/rmm/ca.pem ",
				InsecureSkipVerify: ptr(true), AllowUnencrypted: ptr(true)}},
			result: ImportResult{Added: 1},
			want: Device{Hostname: "WS-008", Site: "main", Port: 5985, Transport: "http", Auth: "ntlm",
				CABundle: "/etc/rmm/ca.pem", InsecureSkipVerify: true, AllowUnencrypted: true},
		},
		{
			name: "empty transport security fields keep the stored values, given ones replace them",
			seed: []DeviceInput{{Hostname: "WS-009", Auth: "kerberos", CABundle: "/a.pem", InsecureSkipVerify: ptr(true),
				AllowUnencrypted: ptr(true)}},
			in:     []DeviceInput{{Hostname: "WS-009", InsecureSkipVerify: ptr(false)}},
			result: ImportResult{Updated: 1},
			want: Device{Hostname: "WS-009", Site: "main", Port: 5986, Transport: "https", Auth: "kerberos",
				CABundle: "/a.pem", AllowUnencrypted: true},
		},
		{
			name:   "a site named in another case is reused",
			seed:   []DeviceInput{{Hostname: "WS-006", Site: "Berlin"}},
			in:     []DeviceInput{{Hostname: "WS-007", Site: "BERLIN", Groups: []string{"x", "X"}}},
			result: ImportResult{Added: 1},
			want:   Device{Hostname: "WS-007", Site: "Berlin", Groups: []string{"x"}, Port: 5986, Transport: "https"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openTestDB(t)
			ctx := context.Background()
			if _, err := db.UpsertDevices(ctx, tt.seed); err != nil {
				t.Fatal(err)
			}
			res, err := db.UpsertDevices(ctx, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if res != tt.result {
				t.Errorf("result %+v, want %+v", res, tt.result)
			}
			got, err := db.DeviceByHostname(ctx, tt.want.Hostname)
			if err != nil {
				t.Fatal(err)
			}
			tt.want.ID = got.ID
			tt.want.Status = StatusUnknown
			if tt.want.Auth == "" {
				tt.want.Auth = AuthBasic
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("device\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestAFailingUpsertLeavesTheDatabaseExactlyAsBefore(t *testing.T) {
	tests := []struct {
		name string
		bad  DeviceInput
		want string
	}{
		{"when the third row violates the port CHECK", DeviceInput{Hostname: "NEW-3", Port: 70000},
			"upsert devices: device 3 (NEW-3): insert: "},
		{"when the third row has an unknown transport", DeviceInput{Hostname: "NEW-3", Transport: "ftp"},
			`upsert devices: device 3 (NEW-3): transport "ftp": want http or https`},
		{"when the third row has an unknown auth", DeviceInput{Hostname: "NEW-3", Auth: "digest"},
			`upsert devices: device 3 (NEW-3): auth "digest": want basic, negotiate, kerberos or ntlm`},
		{"when the third row has no hostname", DeviceInput{Hostname: "  "},
			"upsert devices: device 3 (  ): empty hostname"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openTestDB(t)
			ctx := context.Background()
			seed := []DeviceInput{{Hostname: "OLD-1", Site: "Berlin", Groups: []string{"G"}, Custom: map[string]string{"k": "v"}}}
			if _, err := db.UpsertDevices(ctx, seed); err != nil {
				t.Fatal(err)
			}
			before := dump(t, db)
			_, err := db.UpsertDevices(ctx, []DeviceInput{
				{Hostname: "old-1", IP: "10.1.1.1", Site: "Paris", Groups: []string{"H"}, Custom: map[string]string{"k": "w"}},
				{Hostname: "NEW-2", Site: "Rome", Groups: []string{"I"}},
				tt.bad,
				{Hostname: "NEW-4"},
			})
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want prefix %q", err, tt.want)
			}
			if after := dump(t, db); after != before {
				t.Errorf("database changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

func TestListDevicesIsOrderedByHostnameWithEverythingDecoded(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	if _, err := db.UpsertDevices(ctx, []DeviceInput{
		{Hostname: "srv-b", Groups: []string{"Servers"}},
		{Hostname: "SRV-A", Tags: []string{"db"}, Custom: map[string]string{"Rack": "4"}},
		{Hostname: "ws-c"},
	}); err != nil {
		t.Fatal(err)
	}
	ds, err := db.ListDevices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range ds {
		names = append(names, d.Hostname)
	}
	if strings.Join(names, " ") != "SRV-A srv-b ws-c" {
		t.Errorf("order %v", names)
	}
	if !reflect.DeepEqual(ds[0].Tags, []string{"db"}) || ds[0].Custom["Rack"] != "4" ||
		!reflect.DeepEqual(ds[1].Groups, []string{"Servers"}) || ds[2].Site != "main" {
		t.Errorf("decoded devices %+v", ds)
	}
	if n, err := db.CountDevices(ctx); err != nil || n != 3 {
		t.Errorf("CountDevices = %d, %v; want 3", n, err)
	}
}

func TestDeviceByHostnameReportsNotFound(t *testing.T) {
	db := openTestDB(t)
	_, err := db.DeviceByHostname(context.Background(), "nope")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("error %v, want ErrNotFound", err)
	}
	if err.Error() != "device nope: not found" {
		t.Errorf("error %q", err)
	}
}

func TestSitesListsCreatedSitesOnce(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	if _, err := db.UpsertDevices(ctx, []DeviceInput{{Hostname: "a", Site: "Paris"}, {Hostname: "b", Site: "paris"},
		{Hostname: "c", Site: "Berlin"}}); err != nil {
		t.Fatal(err)
	}
	got, err := db.Sites(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []string{"Berlin", "main", "Paris"}) {
		t.Errorf("Sites() = %v", got)
	}
}

func TestMetricsSinceReturnsOneTypeFromATimeOn(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	if _, err := db.UpsertDevices(ctx, []DeviceInput{{Hostname: "a"}}); err != nil {
		t.Fatal(err)
	}
	d, _ := db.DeviceByHostname(ctx, "a")
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	w := NewWriter(db, WriterOptions{})
	w.Start()
	err := w.AddMetrics(ctx, []Metric{
		{DeviceID: d.ID, Type: "cpu_pct", Value: 10, At: t0},
		{DeviceID: d.ID, Type: "cpu_pct", Value: 20, At: t0.Add(time.Minute)},
		{DeviceID: d.ID, Type: "mem_pct", Value: 30, At: t0.Add(time.Minute)},
		{DeviceID: d.ID, Type: "disk_free_pct", Instance: "D:", Value: 40, At: t0.Add(2 * time.Minute)},
		{DeviceID: d.ID, Type: "disk_free_pct", Instance: "C:", Value: 50, At: t0.Add(2 * time.Minute)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := db.MetricsSince(ctx, d.ID, "cpu_pct", t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want := []Metric{{DeviceID: d.ID, Type: "cpu_pct", Value: 20, At: t0.Add(time.Minute)}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cpu since t0+1s = %+v, want %+v", got, want)
	}
	got, _ = db.MetricsSince(ctx, d.ID, "disk_free_pct", t0)
	if len(got) != 2 || got[0].Instance != "C:" || got[1].Instance != "D:" {
		t.Errorf("disk = %+v, want C: then D:", got)
	}
}

func ptr[T any](v T) *T { return &v }
