package scripts

import "testing"

// Benchmarks of the metrics document every warm poll decodes, on what the
// simulator answered with three watched services
// (testdata/ps/metrics_sim_v2.json). The EncodingJSON benchmark decodes it
// the way the engine did before psjson.Scanner (encoding/json alone), for
// the ratio.
//
//	go test -run XXX -bench ParseMetrics -benchmem ./engine/scripts/

func BenchmarkParseMetrics(b *testing.B) {
	doc := readFixture(b, "metrics_sim_v2.json")
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseMetrics(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseMetricsEncodingJSON(b *testing.B) {
	doc := readFixture(b, "metrics_sim_v2.json")
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseMetricsReference(doc); err != nil {
			b.Fatal(err)
		}
	}
}
