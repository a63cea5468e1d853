package store

import (
	"bufio"
	"compress/gzip"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
)

// The archive is a directory with one subdirectory per archived table
// (metrics, alerts, audit) holding one file per UTC day,
// <table>/YYYY-MM-DD.jsonl.gz: gzip-compressed JSON lines, one object per
// archived row (see archiveTables for the fields). A file is a sequence of
// gzip members, one per retention batch that touched that day; gzip, zcat
// and Go's compress/gzip read it as one stream.
//
// Crash safety: a batch appends its member after the file's committed
// length (recorded in archive_files), fsyncs the file (and the directory
// when the file is new), and only then, in one transaction, deletes the
// rows and records the new length. A crash before that commit leaves the
// rows in the database and some bytes past the committed length; the next
// batch cuts them off before appending, so rows are neither lost nor
// archived twice. Readers of the chain (VerifyAuditWithArchive) stop at
// the committed length.

// dayFileName matches archive file names.
var dayFileName = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2})\.jsonl\.gz$`)

// archiveFile is one day file of one table, as archive_files records it,
// with the rows a batch adds to it.
type archiveFile struct {
	rel      string // path relative to the archive dir, '/'-separated
	rows     []archiveRow
	bytes    int64 // committed length
	count    int64
	minID    sql.NullInt64
	maxID    sql.NullInt64
	lastHash string
}

// loadArchiveFile reads f's record; ok is false when there is none.
func loadArchiveFile(ctx context.Context, q queryer, f *archiveFile) (ok bool, err error) {
	err = q.QueryRowContext(ctx, `SELECT bytes, rows, min_id, max_id, last_hash FROM archive_files WHERE path = ?`,
		f.rel).Scan(&f.bytes, &f.count, &f.minID, &f.maxID, &f.lastHash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read archive_files %s: %w", f.rel, err)
	}
	return true, nil
}

// registerArchiveFile records a file before anything is written to it, so
// that a later run can tell bytes of an uncommitted batch (past the
// recorded length) from bytes it did not write. A file already on disk
// that the database does not know (another database's archive, a database
// restored from an older backup) is adopted as it is, never cut.
func registerArchiveFile(ctx context.Context, tx *sql.Tx, dir, tbl, rel string, now int64) error {
	var size int64
	fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(rel)))
	switch {
	case err == nil:
		size = fi.Size()
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("archive file %s: %w", filepath.Join(dir, filepath.FromSlash(rel)), err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO archive_files (path, tbl, bytes, updated_at) VALUES (?, ?, ?, ?)`,
		rel, tbl, size, now); err != nil {
		return fmt.Errorf("record archive file %s: %w", rel, err)
	}
	return nil
}

// appendMember appends lines (each without its newline) as one gzip member
// to the file at path after its first committed bytes, cutting off what
// lies past them, and fsyncs it. It returns the new length. fresh reports
// that the file had gone missing (removed by hand, or the archive dir
// changed) and was started anew.
func appendMember(path string, committed int64, lines [][]byte) (size int64, fresh bool, err error) {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return 0, false, fmt.Errorf("create directory %s: %w", dir, err)
		}
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return 0, false, err
		}
	}
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, fs.ErrNotExist)
	if created && committed > 0 {
		committed, fresh = 0, true
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, false, err
	}
	switch {
	case fi.Size() < committed:
		return 0, false, fmt.Errorf("file is %d bytes but %d were committed: it was truncated or replaced; "+
			"move it aside to let retention start a new file", fi.Size(), committed)
	case fi.Size() > committed:
		// Left by a batch that did not commit; its rows are still in the database.
		if err := f.Truncate(committed); err != nil {
			return 0, false, fmt.Errorf("cut uncommitted tail: %w", err)
		}
	}
	if _, err := f.Seek(committed, io.SeekStart); err != nil {
		return 0, false, err
	}
	cw := &countingWriter{w: f}
	bw := bufio.NewWriterSize(cw, 64<<10)
	zw := gzip.NewWriter(bw)
	for _, l := range lines {
		if _, err := zw.Write(l); err != nil {
			return 0, false, err
		}
		if _, err := zw.Write([]byte{'\n'}); err != nil {
			return 0, false, err
		}
	}
	if err := zw.Close(); err != nil {
		return 0, false, err
	}
	if err := bw.Flush(); err != nil {
		return 0, false, err
	}
	if err := f.Sync(); err != nil {
		return 0, false, fmt.Errorf("fsync: %w", err)
	}
	if created {
		if err := syncDir(dir); err != nil {
			return 0, false, err
		}
	}
	return committed + cw.n, fresh, nil
}

// syncDir makes a new directory entry durable. Windows cannot fsync a
// directory (and needs not); there it does nothing.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// archiveDamage is a problem in an archive file's content (bad gzip, bad
// JSON): evidence for verify, not an I/O failure. short marks a file that
// read cleanly but ends before its committed length.
type archiveDamage struct {
	msg   string
	short bool
}

func (e *archiveDamage) Error() string { return e.msg }

// readArchiveFile calls fn with each line (without its newline) of the
// archive file at path and its 1-based number, member by member. With
// committed >= 0 it stops at that length: later members belong to a batch
// that did not commit. rel names the file in problems.
func readArchiveFile(path, rel string, committed int64, fn func(line []byte, n int) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cr := &countingReader{r: f}
	br := bufio.NewReaderSize(cr, 64<<10)
	pos := func() int64 { return cr.n - int64(br.Buffered()) }
	damage := func(format string, args ...any) error {
		return &archiveDamage{msg: fmt.Sprintf("archive %s: ", rel) + fmt.Sprintf(format, args...)}
	}
	var zr *gzip.Reader
	n := 0
	for {
		start := pos()
		if committed >= 0 && start >= committed {
			return nil
		}
		if _, err := br.Peek(1); errors.Is(err, io.EOF) {
			if committed >= 0 && start < committed {
				err := damage("file is %d bytes but %d were committed (file truncated or replaced)", start, committed)
				err.(*archiveDamage).short = true
				return err
			}
			return nil
		} else if err != nil {
			return err
		}
		// br is an io.ByteReader, so the decompressor reads exactly one
		// member and pos() lands on the next one.
		if zr == nil {
			zr, err = gzip.NewReader(br)
		} else {
			err = zr.Reset(br)
		}
		if err != nil {
			return damage("byte %d: %v (file edited or damaged)", start, err)
		}
		zr.Multistream(false)
		lr := bufio.NewReader(zr)
		for {
			line, err := lr.ReadBytes('\n')
			if len(line) > 0 {
				n++
				if line[len(line)-1] == '\n' {
					line = line[:len(line)-1]
				}
				if err := fn(line, n); err != nil {
					return err
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return damage("after line %d: %v (file edited or damaged)", n, err)
			}
		}
	}
}

// archivedLink is what the chain check keeps of an archived audit row.
type archivedLink struct {
	id         int64
	prev, hash string
	file, line int // index into the file list, line number
}

// VerifyAuditWithArchive checks the whole audit chain: VerifyAuditWith
// with the archive under archiveDir. The rows in the audit archive (in id
// order, each file up to its committed length) start from the genesis
// value or from the last row of archive files that retention removed, and
// go on into audit_log. It detects rows edited, deleted or inserted in the
// archive or the database, archive files edited, truncated or missing,
// and an archive that stops short of the last row the database says it
// archived. Rows that appear twice with the same hash (a database
// restored from an older backup archives them again) are counted once.
//
// When retention moves rows while the check runs, the check is repeated.
func (db *DB) VerifyAuditWithArchive(ctx context.Context, archiveDir string) (VerifyResult, error) {
	return db.VerifyAuditWith(ctx, VerifyOptions{ArchiveDir: archiveDir})
}

// archiveWalk is where the archive part of a check left the chain, for
// the database part to go on from.
type archiveWalk struct {
	setup chainSetup
	c     *chainCheck
}

// verifyAuditWithArchive runs the archive check, again when retention
// moved rows meanwhile.
func (db *DB) verifyAuditWithArchive(ctx context.Context, o VerifyOptions) (VerifyResult, error) {
	for attempt := 1; ; attempt++ {
		before, _, _, err := auditAnchor(ctx, db.reader, "archived")
		if err != nil {
			return VerifyResult{}, err
		}
		res, err := db.verifyArchiveOnce(ctx, o)
		if err != nil {
			return VerifyResult{}, err
		}
		if res.OK || attempt == 3 {
			return res, nil
		}
		after, _, _, err := auditAnchor(ctx, db.reader, "archived")
		if err != nil {
			return VerifyResult{}, err
		}
		if after == before {
			return res, nil
		}
	}
}

func (db *DB) verifyArchiveOnce(ctx context.Context, o VerifyOptions) (VerifyResult, error) {
	archiveDir := o.ArchiveDir
	s, err := db.readChainSetup(ctx, db.reader)
	if err != nil {
		return VerifyResult{}, err
	}
	prunedID, prunedHash, prunedLabel := s.prunedID, s.pruneH, s.pruneLbl
	archID, archHash := s.archID, s.archHash
	committed, err := committedLengths(ctx, db.reader, "audit")
	if err != nil {
		return VerifyResult{}, err
	}
	entries, err := os.ReadDir(filepath.Join(archiveDir, "audit"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return VerifyResult{}, err
	}
	var files []string // relative paths, oldest day first (ReadDir sorts by name)
	for _, e := range entries {
		if !e.IsDir() && dayFileName.MatchString(e.Name()) {
			files = append(files, "audit/"+e.Name())
		}
	}
	where := func(l archivedLink) string { return fmt.Sprintf("archive %s line %d: ", files[l.file], l.line) }

	c := newChainCheck(prunedID, prunedHash, prunedLabel, s.h)
	db.watchHeads(c, s, o)
	if s.bad != "" {
		c.fail(0, s.bad)
		return c.result(), nil
	}
	var links []archivedLink
	// A file that is shorter than committed but reads cleanly is reported
	// after the chain check, which usually names the missing rows.
	var short string
	for i, rel := range files {
		if err := ctx.Err(); err != nil {
			return VerifyResult{}, err
		}
		limit, ok := committed[rel]
		if !ok {
			limit = -1 // not recorded: read it all
		}
		err := readArchiveFile(filepath.Join(archiveDir, filepath.FromSlash(rel)), rel, limit, func(line []byte, n int) error {
			l := archivedLink{file: i, line: n}
			e, err := decodeAuditLine(line)
			if err != nil {
				c.res.Rows++
				c.fail(0, fmt.Sprintf("%sunreadable row: %v (file edited or damaged)", where(l), err))
				return errStopVerify
			}
			if e.ID <= prunedID {
				return nil // its file was removed by an earlier run; the rest of it lingers
			}
			l.id, l.prev, l.hash = e.ID, e.PrevHash, e.Hash
			if want, err := c.h.hash(e); err != nil || want != e.Hash {
				c.res.Rows++
				c.fail(e.ID, fmt.Sprintf("%srow %d: hash mismatch (row edited)", where(l), e.ID))
				return errStopVerify
			}
			links = append(links, l)
			return nil
		})
		var damage *archiveDamage
		switch {
		case errors.Is(err, errStopVerify):
			return c.result(), nil
		case errors.As(err, &damage) && damage.short:
			if short == "" {
				short = damage.msg
			}
		case errors.As(err, &damage):
			c.fail(0, damage.msg)
			return c.result(), nil
		case err != nil:
			return VerifyResult{}, fmt.Errorf("read archive %s: %w", rel, err)
		}
	}

	sort.SliceStable(links, func(i, j int) bool { return links[i].id < links[j].id })
	for i, l := range links {
		if i > 0 && links[i-1].id == l.id {
			if links[i-1].hash == l.hash {
				continue // the same row archived twice
			}
			c.res.Rows++
			c.fail(l.id, fmt.Sprintf("%srow %d: appears twice in the archive with different contents (also %s)",
				where(l), l.id, where(links[i-1])))
			return c.result(), nil
		}
		if !c.link(l.id, l.prev, l.hash, where(l)) {
			return c.result(), nil
		}
	}
	if short != "" {
		c.fail(0, short)
		return c.result(), nil
	}
	if archID > 0 && (c.prevID != archID || c.prevHash != archHash) {
		c.fail(c.prevID+1, fmt.Sprintf("the archive ends at %s but the database archived rows up to row %d "+
			"(archive file missing, truncated or edited)", c.prevLabel, archID))
		return c.result(), nil
	}
	return db.verifyAudit(ctx, o, &archiveWalk{setup: s, c: c})
}

// errStopVerify stops reading the archive once the chain check failed.
var errStopVerify = errors.New("stop")

// committedLengths returns the committed length of each archive file of
// tbl, by relative path.
func committedLengths(ctx context.Context, db *sql.DB, tbl string) (map[string]int64, error) {
	rows, err := db.QueryContext(ctx, `SELECT path, bytes FROM archive_files WHERE tbl = ?`, tbl)
	if err != nil {
		return nil, fmt.Errorf("read archive_files: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var p string
		var n int64
		if err := rows.Scan(&p, &n); err != nil {
			return nil, fmt.Errorf("read archive_files: %w", err)
		}
		out[p] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read archive_files: %w", err)
	}
	return out, nil
}
