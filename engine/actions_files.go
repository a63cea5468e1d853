package engine

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/rmmhq/rmm/store"
)

// FileCopy and Wake-on-LAN: the actions that are more than one script.

// pushFile sends the plan's file to d in 64 KiB chunks (action_file_push),
// starting at offset 0 (which starts the file anew, so a retried attempt
// is whole); the host checks the SHA-256 on the last chunk.
func (e *Engine) pushFile(ctx context.Context, p *runPlan, d store.Device) actionOutcome {
	data := p.file
	for off := 0; ; {
		n := min(fileChunk, len(data)-off)
		final := off+n == len(data)
		params := map[string]string{"path": p.params["path"], "offset": strconv.Itoa(off),
			"data": base64.StdEncoding.EncodeToString(data[off : off+n]), "final": strconv.FormatBool(final), "sha256": ""}
		if final {
			params["sha256"] = p.fileSum
		}
		out, raw := e.fileChunk(ctx, p, d, params)
		if out.status != ActionCompleted {
			return out
		}
		off += n
		if !final {
			continue
		}
		var got struct {
			Size   int64  `json:"size"`
			SHA256 string `json:"sha256"`
		}
		if err := json.Unmarshal(raw, &got); err != nil || got.Size != int64(len(data)) || got.SHA256 != p.fileSum {
			out.status = ActionFailed
			out.message = fmt.Sprintf("the host reports %d bytes, sha256 %q; sent %d bytes, sha256 %s", got.Size, got.SHA256, len(data), p.fileSum)
			return out
		}
		out.message = fmt.Sprintf("Copied %d bytes to %s (sha256 verified)", len(data), p.params["path"])
		return out
	}
}

// pullFile reads a file from d in 64 KiB chunks (action_file_pull) into
// the local dest, checks its SHA-256 against the host's, then moves it
// into place. The file is never larger than MaxFileCopy.
func (e *Engine) pullFile(ctx context.Context, p *runPlan, d store.Device) actionOutcome {
	dest := p.params["dest"]
	var (
		buf  []byte
		sum  string
		size int64 = -1
	)
	for int64(len(buf)) < size || size < 0 {
		params := map[string]string{"path": p.params["path"], "offset": strconv.Itoa(len(buf)), "length": strconv.Itoa(fileChunk)}
		out, raw := e.fileChunk(ctx, p, d, params)
		out.stdout = "" // chunks of the file, not output
		if out.status != ActionCompleted {
			return out
		}
		var chunk struct {
			Size   int64  `json:"size"`
			Data   string `json:"data"`
			SHA256 string `json:"sha256"`
		}
		if err := json.Unmarshal(raw, &chunk); err != nil {
			return actionOutcome{status: ActionFailed, message: "unreadable chunk: " + err.Error()}
		}
		if chunk.Size > MaxFileCopy {
			return actionOutcome{status: ActionFailed, message: fmt.Sprintf("the file is %d bytes; FileCopy pulls at most %d bytes (10 MB)", chunk.Size, MaxFileCopy)}
		}
		b, err := base64.StdEncoding.DecodeString(chunk.Data)
		if err != nil {
			return actionOutcome{status: ActionFailed, message: "unreadable chunk: " + err.Error()}
		}
		if size >= 0 && chunk.Size != size {
			return actionOutcome{status: ActionFailed, message: "the file changed on the host during the copy"}
		}
		size = chunk.Size
		if chunk.SHA256 != "" {
			sum = chunk.SHA256 // the chunk that reaches the end carries it
		}
		if len(b) == 0 && int64(len(buf)) < size {
			return actionOutcome{status: ActionFailed, message: "the host sent an empty chunk before the end of the file"}
		}
		buf = append(buf, b...)
		if int64(len(buf)) > size {
			return actionOutcome{status: ActionFailed, message: "the host sent more bytes than the file has"}
		}
	}
	got := sha256.Sum256(buf)
	if hex.EncodeToString(got[:]) != sum {
		return actionOutcome{status: ActionFailed, message: fmt.Sprintf("checksum mismatch: received sha256 %s, the host has %s", hex.EncodeToString(got[:]), sum)}
	}
	if err := writeNewFile(dest, buf); err != nil {
		return actionOutcome{status: ActionFailed, message: err.Error()}
	}
	return actionOutcome{status: ActionCompleted, message: fmt.Sprintf("Copied %d bytes to %s (sha256 verified)", len(buf), dest)}
}

// writeNewFile writes b to a temporary file beside dest and links it into
// place, refusing to replace an existing dest.
func writeNewFile(dest string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".part-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", dest, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", dest, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", dest, err)
	}
	if err := os.Link(tmp.Name(), dest); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("write %s: it exists; rmm does not overwrite local files", dest)
		}
		return fmt.Errorf("write %s: %w", dest, err)
	}
	return nil
}

// MagicPacket returns the Wake-on-LAN packet for mac: 6 bytes 0xFF, then
// the MAC 16 times.
func MagicPacket(mac net.HardwareAddr) []byte {
	b := make([]byte, 0, 6+16*len(mac))
	for range 6 {
		b = append(b, 0xFF)
	}
	for range 16 {
		b = append(b, mac...)
	}
	return b
}

// wake sends d's magic packet over UDP to ActionOptions.WakeAddress.
func (e *Engine) wake(ctx context.Context, d store.Device) actionOutcome {
	if d.MAC == "" {
		return actionOutcome{status: ActionFailed, message: "No MAC address known for this device (add a mac column to the import)"}
	}
	mac, err := net.ParseMAC(d.MAC)
	if err != nil || len(mac) != 6 {
		return actionOutcome{status: ActionFailed, message: fmt.Sprintf("MAC address %q is not a 6-byte MAC", d.MAC)}
	}
	addr := e.actionOptions().WakeAddress
	if err := sendUDP(ctx, addr, MagicPacket(mac)); err != nil {
		return actionOutcome{status: ActionFailed, message: err.Error()}
	}
	return actionOutcome{status: ActionCompleted, message: "Magic packet sent to " + addr}
}

// sendUDP sends one datagram to addr, allowing a broadcast address.
func sendUDP(ctx context.Context, addr string, b []byte) error {
	d := net.Dialer{Control: broadcastControl}
	c, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return fmt.Errorf("wake-on-lan to %s: %w", addr, err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		return fmt.Errorf("wake-on-lan to %s: %w", addr, err)
	}
	return nil
}

// fileChunk runs the plan's file script once with params (one chunk) and
// reads its answer; a failure to run comes back as the outcome's err.
func (e *Engine) fileChunk(ctx context.Context, p *runPlan, d store.Device, params map[string]string) (actionOutcome, json.RawMessage) {
	sc, _, err := actionScript(p.spec.script, params)
	if err != nil {
		return actionOutcome{status: ActionFailed, message: err.Error()}, nil
	}
	res, err := e.runScriptOn(ctx, d, sc, p.timeout)
	if err != nil {
		return actionOutcome{err: err}, nil
	}
	return actionDoc(res)
}
