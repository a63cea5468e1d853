package winrm

import (
	"encoding/base64"
	"strings"
	"testing"
	"unicode/utf16"
)

func TestEncodedCommandRoundTripsTheScriptAsUTF16LE(t *testing.T) {
	body := "# rmm:script=metrics v2\r\n$x = 'caf\u00e9 \U0001F600'\r\n"
	cmd := EncodedCommand(body)
	const prefix = "powershell.exe -NoProfile -NonInteractive -EncodedCommand "
	if !strings.HasPrefix(cmd, prefix) {
		t.Fatalf("command %q lacks prefix", cmd[:60])
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(cmd, prefix))
	if err != nil {
		t.Fatal(err)
	}
	u := make([]uint16, len(raw)/2)
	for i := range u {
		u[i] = uint16(raw[2*i]) | uint16(raw[2*i+1])<<8
	}
	if got := string(utf16.Decode(u)); got != body {
		t.Fatalf("decoded script differs from the embedded one")
	}
}
