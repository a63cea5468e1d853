package engine

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/filter"
)

// BenchmarkIndexDecode is what LoadFacts pays per device once the index
// row is read: decoding the stored document (200 applications, 250
// services, a dozen hotfixes) and interning it in the catalog.
func BenchmarkIndexDecode(b *testing.B) {
	var doc filter.FactsDoc
	doc.SoftwareAt, doc.SecurityAt = time.Unix(1, 0), time.Unix(2, 0)
	for i := range 200 {
		doc.Apps = append(doc.Apps, [2]string{fmt.Sprintf("Vendor %d Application %d (x64)", i%17, i), fmt.Sprintf("%d.%d.%d", i%9, i%4, 1000+i)})
	}
	for i := range 250 {
		doc.Services = append(doc.Services, [2]string{fmt.Sprintf("Service%03d", i), "Running"})
	}
	for i := range 12 {
		doc.Hotfixes = append(doc.Hotfixes, fmt.Sprintf("KB50%05d", i))
	}
	raw, err := encodeFacts(doc)
	if err != nil {
		b.Fatal(err)
	}
	cat := filter.NewCatalog()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		d, err := decodeFacts(raw)
		if err != nil {
			b.Fatal(err)
		}
		cat.Build(d)
	}
}

func TestAStoredIndexReadsTheSameWithoutReflection(t *testing.T) {
	at := time.Date(2025, 3, 14, 9, 26, 53, 123e6, time.UTC)
	doc := filter.FactsDoc{SoftwareAt: at, LastBoot: at.Add(-time.Hour), OS: "Microsoft Windows 11 Pro \"x\"",
		Apps: [][2]string{{"Zoom (64-bit)", "5.16.10"}, {"caf\u00e9\ttab", ""}}, Services: [][2]string{{"Spooler", "Running"}},
		Hotfixes: []string{"KB1", "KB2"}, SecurityAt: at, BitLocker: "on", Firewall: "off", Defender: "on", Reboot: "yes"}
	raw, err := encodeFacts(doc)
	if err != nil {
		t.Fatal(err)
	}
	var s storedFacts
	if !scanFacts(raw, &s) {
		t.Fatalf("the scanner refused %s", raw)
	}
	var viaJSON storedFacts
	if err := json.Unmarshal(raw, &viaJSON); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, viaJSON) {
		t.Errorf("scanner %+v\njson    %+v", s, viaJSON)
	}
	got, err := decodeFacts(raw)
	if err != nil || got.Apps[1] != [2]string{"caf\u00e9 tab", ""} || !got.SoftwareAt.Equal(at) || got.OS != doc.OS || len(got.Hotfixes) != 2 {
		t.Errorf("decodeFacts = %+v, %v", got, err)
	}
	// A document the scanner does not read goes to encoding/json.
	if got, err := decodeFacts([]byte(`{"software_at":"2025-03-14T09:26:53Z","apps":"a\tb\n","extra":{"x":[1]}}`)); err != nil || got.Apps[0] != [2]string{"a", "b"} {
		t.Errorf("a document with an unknown member: %+v %v", got, err)
	}
}
