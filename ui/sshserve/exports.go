package sshserve

// Fetching exports: an SSH user's :export and :export-results write to
// their own directory on the server (engine.ExportFile); they take the
// files home with scp through this same server (scp -O: the classic
// protocol, which wish serves). Read-only: uploads are refused. Each
// session reads its user's directory alone, through an os.Root, so no
// path, glob or link reaches another user's files or the rest of the
// server.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"charm.land/ssh"
	"charm.land/wish/v2"
	"charm.land/wish/v2/scp"

	"github.com/rmmhq/rmm/engine"
)

// scpMiddleware serves `scp -f` (a client fetching) from the session
// user's export directory, and refuses `scp -t` (a client uploading).
// Other sessions go on to next.
func (s *Server) scpMiddleware() wish.Middleware {
	serve := scp.Middleware(exportsHandler{s}, nil)
	return func(next ssh.Handler) ssh.Handler {
		withSCP := serve(next)
		return func(sess ssh.Session) {
			info := scp.GetInfo(sess.Command())
			if !info.Ok {
				next(sess)
				return
			}
			if !s.enter() {
				s.refuse(sess, msgShutdown, "server shutting down", nil)
				return
			}
			defer s.handlers.Done()
			remote := addrString(sess.RemoteAddr())
			id, err := s.identify(sess)
			if err != nil {
				s.refuse(sess, "rmm: access denied", err.Error(), []any{"user", clean(sess.User()), "remote", remote})
				return
			}
			who := []any{"user", id.User, "role", id.Role.String(), "remote", remote, "key", id.KeyFP}
			if info.Op != scp.OpCopyToClient {
				s.refuse(sess, "rmm: exports are read-only: fetch them with scp -O USER@HOST:NAME .", "scp upload refused", who)
				return
			}
			if _, err := engine.UserExportDir(s.cfg.ExportsDir, id.User); err != nil {
				s.refuse(sess, "rmm: "+err.Error(), "scp: no export directory", who)
				return
			}
			sess.Context().SetValue(identityKey{}, id)
			s.log.Info("ssh export fetch", append(who, "path", clean(info.Path), "recursive", info.Recursive)...)
			withSCP(sess)
		}
	}
}

// exportsHandler is scp's read side over the session user's export
// directory.
type exportsHandler struct{ s *Server }

var _ scp.CopyToClientHandler = exportsHandler{}

// open is the session user's directory as an fs.FS, through an os.Root
// (closed by the caller; files opened through it stay usable).
func (h exportsHandler) open(sess ssh.Session) (fs.FS, func(), error) {
	id, ok := IdentityFrom(sess.Context())
	if !ok {
		return nil, nil, errors.New("no identity")
	}
	dir, err := engine.UserExportDir(h.s.cfg.ExportsDir, id.User)
	if err != nil {
		return nil, nil, err
	}
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return nil, nil, fmt.Errorf("you have no exports yet: run :export csv NAME in the console first")
	}
	rt, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("open your export directory: %w", err)
	}
	return rt.FS(), func() { _ = rt.Close() }, nil
}

// rel turns what the client asked for into a name inside the directory:
// "NAME", "./NAME", "/NAME" and "~/NAME" all mean NAME there.
func rel(p string) string {
	p = strings.TrimPrefix(p, "~/")
	p = path.Clean("/" + p)
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return "."
	}
	return p
}

// Glob implements scp.CopyToClientHandler: matches among the user's
// exports, hidden files (temporary files of exports being written) left
// out.
func (h exportsHandler) Glob(sess ssh.Session, pattern string) ([]string, error) {
	fsys, done, err := h.open(sess)
	if err != nil {
		return nil, err
	}
	defer done()
	matches, err := fs.Glob(fsys, rel(pattern))
	if err != nil {
		return nil, fmt.Errorf("%q: %w", pattern, err)
	}
	out := matches[:0]
	for _, m := range matches {
		if !strings.HasPrefix(path.Base(m), ".") || m == "." {
			out = append(out, m)
		}
	}
	return out, nil
}

// WalkDir implements scp.CopyToClientHandler (scp -r).
func (h exportsHandler) WalkDir(sess ssh.Session, p string, fn fs.WalkDirFunc) error {
	fsys, done, err := h.open(sess)
	if err != nil {
		return err
	}
	defer done()
	return fs.WalkDir(fsys, rel(p), func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != "." && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		return fn(p, d, err)
	})
}

// NewDirEntry implements scp.CopyToClientHandler.
func (h exportsHandler) NewDirEntry(sess ssh.Session, p string) (*scp.DirEntry, error) {
	fsys, done, err := h.open(sess)
	if err != nil {
		return nil, err
	}
	defer done()
	return scp.NewFSReadHandler(fsys).NewDirEntry(sess, rel(p))
}

// NewFileEntry implements scp.CopyToClientHandler.
func (h exportsHandler) NewFileEntry(sess ssh.Session, p string) (*scp.FileEntry, func() error, error) {
	fsys, done, err := h.open(sess)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	return scp.NewFSReadHandler(fsys).NewFileEntry(sess, rel(p))
}
