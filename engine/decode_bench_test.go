package engine

import (
	"bytes"
	"encoding/base64"
	"testing"
)

// Benchmarks of the two decodes every warm poll pays for, on what the
// simulator answered to a metrics request with three watched services:
// testdata/ps/loop_frame_metrics.txt is the loop's stdout for request r2,
// testdata/ps/metrics_sim_v2.json the metrics document it carries. The
// ...EncodingJSON benchmarks decode the same documents the way the engine
// did before jsonScan (encoding/json alone), for the ratio.
//
//	go test -run XXX -bench 'ParseFrame|ParseMetrics' -benchmem ./engine/

func BenchmarkParseFrame(b *testing.B) {
	frame := readFixture(b, "loop_frame_metrics.txt")
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseFrame(frame, "r2"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseFrameEncodingJSON decodes the frame's document alone.
func BenchmarkParseFrameEncodingJSON(b *testing.B) {
	lines := bytes.Split(readFixture(b, "loop_frame_metrics.txt"), []byte("\r\n"))
	doc, err := base64.StdEncoding.DecodeString(string(lines[1]))
	if err != nil {
		b.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		decode func([]byte, string) (loopAnswer, error)
	}{
		{"scanner", func(doc []byte, id string) (loopAnswer, error) {
			if ans, ok := scanAnswer(doc, id); ok {
				return ans, nil
			}
			return loopAnswer{}, errMalformed
		}},
		{"encoding_json", parseAnswerReference},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tt.decode(doc, "r2"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

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
