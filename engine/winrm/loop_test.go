package winrm

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// loopFrame wraps an answer document in the loop's framing.
func loopFrame(id, doc string) []byte {
	return []byte("BEGIN " + id + "\r\n" + base64.StdEncoding.EncodeToString([]byte(doc)) + "\r\nEND " + id + "\r\n")
}

// parseAnswerReference is how parseFrame read an answer document before
// it had a scanner of its own: encoding/json alone.
func parseAnswerReference(doc []byte, id string) (loopAnswer, error) {
	var ans loopAnswer
	if err := json.Unmarshal(doc, &ans); err != nil {
		return loopAnswer{}, fmt.Errorf("%w: answer: %v", errMalformed, err)
	}
	if ans.ID != id {
		return loopAnswer{}, fmt.Errorf("%w: answer for request %q, want %q", errMalformed, ans.ID, id)
	}
	return ans, nil
}

// answerQuirks are answer documents that exercise each path of the
// scanner and each way out of it to encoding/json.
var answerQuirks = []string{
	`{"id":"r1","output":"hello\r\n","errors":[],"exit":0,"ms":5}`,
	`{"id":"r1","output":"","errors":null,"exit":0,"ms":0}`,
	`{"id":"r1","output":"x","errors":"one error unwrapped","exit":1,"ms":3}`,
	`{"id":"r1","output":"x","errors":["a","b",null],"exit":-1073741819,"ms":9}`,
	`{"ms":1,"exit":2,"errors":[],"output":"order does not matter","id":"r1"}`,
	`{"id":"r1"}`,
	`{"id":"r2"}`,
	`{"id":null}`,
	`{"id":"\u0072\u0031"}`,
	`{"id":"r1","ID":"r9"}`,
	`{"Id":"r1"}`,
	`{"id":"r1","output":null,"output":"last wins","exit":7,"exit":null}`,
	`{"id":"r1","extra":{"nested":[1,2,3]},"exit":0}`,
	`{"id":"r1","output":"<\u003c & \u0026 \"quoted\" \\ \/ \b\f\n\r\t \u00e9 \ud83d\ude00 \udc00"}`,
	"{\"id\":\"r1\",\"output\":\"\xff invalid \xc3 utf-8 \xc3\xa9\"}",
	"{\"id\":\"r1\",\"output\":\"raw\nnewline\"}",
	`{"id":"r1","output":5}`,
	`{"id":"r1","errors":[5]}`,
	`{"id":"r1","errors":{"a":1}}`,
	`{"id":"r1","exit":"0"}`,
	`{"id":"r1","exit":1.0}`,
	`{"id":"r1","exit":1e2}`,
	`{"id":"r1","exit":99999999999999999999}`,
	`{"id":"r1","ms":-9223372036854775809}`,
	`{"id":"r1","exit":0,}`,
	`{"id":"r1"} trailing`,
	`{"id":"r1"`,
	`["r1"]`,
	`null`,
	`nope`,
	`{"id":"r1","x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`,
}

func TestParseFrameDecodesAsEncodingJSONDoes(t *testing.T) {
	docs := answerQuirks
	real := `{"id":"r1","output":"{\"hostname\":\"WS-0002\",\"last_boot\":\"\\\/Date(1794512460000)\\\/\"}\r\n","errors":[],"exit":0,"ms":0}`
	for i := 1; i < len(real); i++ {
		docs = append(docs, real[:i]) // cut short anywhere
	}
	for _, doc := range docs {
		got, gotErr := parseFrame(loopFrame("r1", doc), "r1")
		want, wantErr := parseAnswerReference([]byte(doc), "r1")
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
			t.Errorf("answer %.80q\n got %+v, %v\nwant %+v, %v", doc, got, gotErr, want, wantErr)
		}
		if gotErr != nil && !errors.Is(gotErr, errMalformed) {
			t.Errorf("answer %.80q: %v is not errMalformed", doc, gotErr)
		}
	}
}

func TestParseFrameReadsTheSimulatorsAnswerWithoutEncodingJSON(t *testing.T) {
	frame := readFixture(t, "loop_frame_metrics.txt")
	ans, err := parseFrame(frame, "r2")
	if err != nil {
		t.Fatal(err)
	}
	// The frame carries the metrics document engine/scripts decodes.
	want := strings.TrimSpace(string(readFixture(t, "../../../scripts/testdata/ps/metrics_sim_v2.json")))
	if ans.ID != "r2" || strings.TrimSpace(ans.Output) != want || len(ans.Errors) != 0 || ans.Exit != 0 {
		t.Errorf("answer %+v", ans)
	}
	lines := strings.Split(string(frame), "\r\n")
	raw, err := base64.StdEncoding.DecodeString(lines[1])
	if err != nil || lines[0] != "BEGIN r2" {
		t.Fatalf("fixture: %q, %v", lines[0], err)
	}
	if _, ok := scanAnswer(raw, "r2"); !ok {
		t.Error("the scanner left a real answer to encoding/json")
	}
}

func FuzzParseFrame(f *testing.F) {
	for _, doc := range answerQuirks[:len(answerQuirks)-1] {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		// As a frame's document, and as the loop's stdout itself.
		_, _ = parseFrame(loopFrame("r1", string(doc)), "r1")
		_, _ = parseFrame(doc, "r1")
		// What the scanner accepts, encoding/json decodes the same way.
		got, ok := scanAnswer(doc, "r1")
		if !ok {
			return
		}
		var want loopAnswer
		if err := json.Unmarshal(doc, &want); err != nil {
			t.Fatalf("the scanner accepted %q, which encoding/json refuses: %v", doc, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: scanner %+v, encoding/json %+v", doc, got, want)
		}
	})
}
