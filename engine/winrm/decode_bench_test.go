package winrm

import (
	"bytes"
	"encoding/base64"
	"testing"
)

// Benchmarks of the loop's answer frame, decoded on every warm poll, on
// what the simulator answered to a metrics request with three watched
// services: testdata/ps/loop_frame_metrics.txt is the loop's stdout for
// request r2. The ...EncodingJSON benchmark decodes the same document the
// way the client did before psjson.Scanner (encoding/json alone), for the
// ratio. engine/scripts has the same pair for the metrics document.
//
//	go test -run XXX -bench ParseFrame -benchmem ./engine/winrm/

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
