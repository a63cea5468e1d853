package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/rmmhq/rmm/creds"
	"github.com/rmmhq/rmm/store"
)

// auditKeys is the audit key store of a command (store.AuditKeyring): the
// configured credentials store, the OS keyring or the vault. The store
// asks for the key the first time the audit chain needs it, so commands
// that write no audit row never open the vault. A credentials store the
// command already opened (with a typed passphrase, say) is used as it is;
// otherwise one is opened without a prompt (the console owns the
// terminal) and closed once the key is read.
type auditKeys struct {
	a *app

	mu    sync.Mutex
	where string
}

func (k *auditKeys) withStore(fn func(s creds.Store) error) error {
	k.a.credsMu.Lock()
	shared := k.a.credsShared
	k.a.credsMu.Unlock()
	if shared != nil {
		err := fn(shared)
		if !errors.Is(err, creds.ErrClosed) {
			k.setWhere(shared)
			return err
		}
	}
	s, err := k.a.openCredsStore(false)
	if err != nil {
		return err
	}
	defer s.Close()
	k.setWhere(s)
	return fn(s)
}

func (k *auditKeys) setWhere(s creds.Store) {
	w := "the OS keyring (service " + creds.DefaultService + ")"
	if s.Backend() != creds.BackendKeyring {
		w = "the vault " + k.a.cfg.Security.VaultFile
	}
	k.mu.Lock()
	k.where = w
	k.mu.Unlock()
}

// AuditKey implements store.AuditKeyring.
func (k *auditKeys) AuditKey(ctx context.Context) (store.AuditKey, error) {
	var key store.AuditKey
	err := k.withStore(func(s creds.Store) error {
		b, err := creds.LoadAuditKey(ctx, s)
		if errors.Is(err, creds.ErrNotFound) {
			return fmt.Errorf("%w: %v", store.ErrAuditKeyNotFound, err)
		}
		if err != nil {
			return err
		}
		defer clear(b)
		key, err = store.NewAuditKey(b)
		return err
	})
	return key, err
}

// CreateAuditKey implements store.AuditKeyring.
func (k *auditKeys) CreateAuditKey(ctx context.Context) (store.AuditKey, error) {
	var key store.AuditKey
	err := k.withStore(func(s creds.Store) error {
		b, err := creds.EnsureAuditKey(ctx, s)
		if err != nil {
			return err
		}
		defer clear(b)
		key, err = store.NewAuditKey(b)
		return err
	})
	return key, err
}

// Where implements store.AuditKeyring.
func (k *auditKeys) Where() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.where == "" {
		return "the credentials store (" + k.a.cfg.Security.Backend + ")"
	}
	return k.where
}

// auditAnchorFile is where the audit chain's head is anchored: beside
// the database, named after it.
func auditAnchorFile(dbPath string) string {
	return filepath.Join(filepath.Dir(dbPath), filepath.Base(dbPath)+".audit-anchor")
}

// auditOptions are the store's audit options for this command: the key
// store, the anchor file, and the log for what the audit machinery does on
// its own (every anchor's head goes to the log too, so a log shipped off
// the host holds the heads outside the data directory as well).
func (a *app) auditOptions() store.AuditOptions {
	return store.AuditOptions{
		Keys:       &auditKeys{a: a},
		AnchorFile: auditAnchorFile(a.cfg.Store.DB),
		OnEvent:    a.logAuditEvent,
	}
}

// logAuditEvent writes one audit machinery event to the log.
func (a *app) logAuditEvent(ev store.AuditEvent) {
	log := a.log
	if log == nil {
		return
	}
	attrs := []any{"origin", ev.Head.Origin, "head_id", ev.Head.HeadID, "head_hash", ev.Head.HeadHash,
		"keyed_from", ev.Head.KeyedFrom, "key_id", ev.Head.KeyID, "mac", ev.Head.MAC}
	switch ev.Kind {
	case store.AuditEventAnchor:
		log.Info("audit head anchored", attrs...)
	case store.AuditEventKeyed:
		log.Info("audit chain keyed", append(attrs, "msg_detail", ev.Message)...)
	case store.AuditEventAnchorMissing:
		log.Warn("audit anchor was missing", append(attrs, "msg_detail", ev.Message)...)
	case store.AuditEventUnkeyed:
		log.Warn("audit chain not keyed", "reason", ev.Message)
	case store.AuditEventTriggersRestored:
		log.Warn("audit triggers restored", "detail", ev.Message, errAttr(ev.Err))
	case store.AuditEventAnchorRefused:
		log.Error("audit chain no longer extends its anchor; run rmm audit verify", errAttr(ev.Err))
	default:
		log.Error("audit machinery", "detail", ev.Message, errAttr(ev.Err))
	}
}

func errAttr(err error) slog.Attr {
	if err == nil {
		return slog.Attr{}
	}
	return slog.String("err", err.Error())
}
