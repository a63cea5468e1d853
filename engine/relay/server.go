package relay

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startServer starts an embedded nats-server and waits until it accepts
// connections.
func startServer(opts *server.Options, log *slog.Logger) (*server.Server, error) {
	opts.NoSigs = true // the process handles signals, not the server
	opts.MaxPayload = 8 << 20
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	srv.SetLoggerV2(natsLogger{log: log}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("nats server %s did not become ready", opts.ServerName)
	}
	return srv, nil
}

// natsLogger passes the server's notices and above to slog (never its
// traces: they would carry message payloads).
type natsLogger struct{ log *slog.Logger }

func (l natsLogger) Noticef(format string, v ...any) {
	l.log.Debug("nats: " + fmt.Sprintf(format, v...))
}
func (l natsLogger) Warnf(format string, v ...any) { l.log.Warn("nats: " + fmt.Sprintf(format, v...)) }
func (l natsLogger) Fatalf(format string, v ...any) {
	l.log.Error("nats: " + fmt.Sprintf(format, v...))
}
func (l natsLogger) Errorf(format string, v ...any) { l.log.Warn("nats: " + fmt.Sprintf(format, v...)) }
func (l natsLogger) Debugf(string, ...any)          {}
func (l natsLogger) Tracef(string, ...any)          {}

// wait sleeps d or until done is closed; false when done.
func wait(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return false
	case <-t.C:
		return true
	}
}
