package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/rmmhq/rmm/store"
)

// Reliability report F2: an Operator imported a device pointing at a
// listener of their own with CredentialId=default, Transport=http and
// AllowUnencrypted=true, polled, and read the password off the wire.
// What decides where a credential goes and how it travels is therefore
// the Admin's (PermDevicesTrust), checked here against the stored device
// for every row of an import, whatever the front end.

// TrustError refuses an import whose rows change what only an Admin may;
// errors.Is(err, ErrDenied) holds. Each problem names the source, the
// line and the field.
type TrustError struct {
	Role     Role
	Problems []string // "FILE:LINE: Field: reason"
	More     int      // problems found beyond Problems
}

func (e *TrustError) Error() string {
	const show = 20
	n := len(e.Problems) + e.More
	head := fmt.Sprintf("permission denied: the import makes %d %s only an Admin may make (you are %s); nothing imported",
		n, plural(n, "change", "changes"), e.Role)
	lines := e.Problems
	more := ""
	if len(lines) > show {
		lines, more = lines[:show], fmt.Sprintf("\n... and %d more", n-show)
	}
	return head + "\n" + strings.Join(lines, "\n") + more
}

// Is makes errors.Is(err, ErrDenied) true.
func (e *TrustError) Is(target error) bool { return target == ErrDenied }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// maxTrustProblems bounds what a TrustError keeps (it shows fewer).
const maxTrustProblems = 1000

// trustGuard checks the rows of one import against the devices as
// stored when it began, one indexed lookup per row (memory stays bounded
// whatever the file or the fleet; a streamed import's own transaction
// is not visible to it, and a file names each hostname once). It is nil
// for a caller who may make every change (an Admin): its methods then
// check nothing and cost nothing.
type trustGuard struct {
	ctx      context.Context
	lookup   *store.TrustLookup
	role     Role
	source   string
	problems []string
	more     int // problems beyond maxTrustProblems
	row      int
	err      error // a lookup that failed
}

// trustGuard returns the guard for an import by role, nil when role may
// make every change.
func (e *Engine) trustGuard(ctx context.Context, role Role, source string) (*trustGuard, error) {
	if role.Can(PermDevicesTrust) {
		return nil, nil
	}
	l, err := e.db.NewTrustLookup(ctx)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", source, err)
	}
	return &trustGuard{ctx: ctx, lookup: l, role: role, source: source}, nil
}

// close releases the guard's lookup.
func (g *trustGuard) close() {
	if g != nil {
		_ = g.lookup.Close()
	}
}

// note checks one row and keeps its problems; it reports whether the row
// may be stored.
func (g *trustGuard) note(in store.DeviceInput) bool {
	g.row++
	if g.err != nil {
		return false
	}
	old, exists, err := g.lookup.Get(g.ctx, in.Hostname)
	if err != nil {
		g.err = fmt.Errorf("import %s: %w", g.source, err)
		return false
	}
	where := fmt.Sprintf("%s:%d", g.source, in.Line)
	if in.Line == 0 {
		where = fmt.Sprintf("%s: row %d", g.source, g.row)
	}
	ps := trustChanges(in, old, exists)
	for _, p := range ps {
		if len(g.problems) < maxTrustProblems {
			g.problems = append(g.problems, where+": "+p)
		} else {
			g.more++
		}
	}
	return len(ps) == 0
}

// refusal is the refusal of the rows seen so far, nil when there is none.
func (g *trustGuard) refusal() error {
	if g.err != nil {
		return g.err
	}
	if len(g.problems) == 0 {
		return nil
	}
	return &TrustError{Role: g.role, Problems: g.problems, More: g.more}
}

// check checks every row of an import held in memory.
func (g *trustGuard) check(rows []store.DeviceInput) error {
	if g == nil {
		return nil
	}
	for _, in := range rows {
		g.note(in)
	}
	return g.refusal()
}

// each wraps a stream's Each: the rows are checked as they pass, none is
// stored once one was refused, and the whole import is refused at the
// end (the stream's own rejection, a bad row, wins).
func (g *trustGuard) each(each func(func(store.DeviceInput) error) error) func(func(store.DeviceInput) error) error {
	if g == nil {
		return each
	}
	return func(put func(store.DeviceInput) error) error {
		if err := each(func(in store.DeviceInput) error {
			if !g.note(in) || len(g.problems) > 0 || g.err != nil {
				return nil // refused at the end: nothing of this import is kept
			}
			return put(in)
		}); err != nil {
			return err
		}
		return g.refusal()
	}
}

// trustChanges lists what row in changes about device old (absent when
// !exists) that only an Admin may, as "Field: reason".
func trustChanges(in store.DeviceInput, old store.DeviceTrust, exists bool) []string {
	var out []string
	if id := strings.TrimSpace(in.CredentialID); id != "" && (!exists || id != old.CredentialID) {
		out = append(out, fmt.Sprintf("CredentialId: setting a device's credential (%q) needs the Admin role: it decides which account is sent to the device", id))
	}
	transport := strings.ToLower(strings.TrimSpace(in.Transport))
	switch {
	case transport == "" && exists:
		transport = old.Transport
	case transport == "":
		transport = "https"
	}
	wasHTTP := exists && old.Transport == "http"
	if transport == "http" && !wasHTTP {
		out = append(out, "Transport: http (no TLS: nothing proves which host answers) needs the Admin role")
	}
	if auth, err := store.ParseAuth(in.Auth); err == nil && auth == store.AuthBasic && transport == "http" && exists && old.Auth != store.AuthBasic {
		out = append(out, "Auth: basic over plain HTTP (the password crosses the network readable, where "+old.Auth+" did not send it) needs the Admin role")
	}
	if v := in.AllowUnencrypted; v != nil && *v && !(exists && old.AllowUnencrypted) {
		out = append(out, "AllowUnencrypted: true (the password crosses the network readable) needs the Admin role")
	}
	if v := in.InsecureSkipVerify; v != nil && *v && !(exists && old.InsecureSkipVerify) {
		out = append(out, "InsecureSkipVerify: true (any certificate is accepted) needs the Admin role")
	}
	if ca := strings.TrimSpace(in.CABundle); ca != "" && !(exists && ca == old.CABundle) {
		out = append(out, fmt.Sprintf("CABundle: trusting %s for the device's certificate needs the Admin role", ca))
	}
	// A device reached without a verified certificate has nothing but its
	// address to say which host gets its credential: moving it is the
	// Admin's too.
	insecure := exists && (old.Transport == "http" || old.InsecureSkipVerify)
	if insecure {
		moved := func(field, now, was string) {
			if now = strings.TrimSpace(now); now != "" && !strings.EqualFold(now, was) {
				out = append(out, fmt.Sprintf("%s: moving a device reached without TLS verification (%s to %s) needs the Admin role: its credential would go to the new address unverified", field, was, now))
			}
		}
		moved("IPAddress", in.IP, old.IP)
		moved("FQDN", in.FQDN, old.FQDN)
		if in.Port != 0 && in.Port != old.Port {
			moved("Port", fmt.Sprint(in.Port), fmt.Sprint(old.Port))
		}
	}
	return out
}
