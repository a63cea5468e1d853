package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// The script library: user scripts stored in the database with typed
// parameters and a timeout, versioned (a new version keeps the old ones).
// RunScript sends the body of the chosen version (the latest by default)
// with one line per parameter before it, `$Name = 'value'` (single quotes,
// a quote doubled), and records the version in each device's result.

// MaxScriptBytes bounds a library script's body.
const MaxScriptBytes = 256 << 10

// addScript stores a new version of a library script.
func (e *Engine) addScript(ctx context.Context, id Identity, r AddScript) (LibraryScript, error) {
	name := strings.TrimSpace(r.Name)
	if name == "" || len(name) > 100 || strings.ContainsAny(name, " \t\r\n/\\") {
		return LibraryScript{}, badInput(fmt.Errorf("script name %q: want 1..100 characters without spaces or slashes", r.Name))
	}
	if strings.TrimSpace(r.Body) == "" {
		return LibraryScript{}, badInput(fmt.Errorf("script %s: the body is empty", name))
	}
	if len(r.Body) > MaxScriptBytes {
		return LibraryScript{}, badInput(fmt.Errorf("script %s: the body is %d bytes; at most %d", name, len(r.Body), MaxScriptBytes))
	}
	if r.Timeout < 0 || r.Timeout > 24*time.Hour {
		return LibraryScript{}, badInput(fmt.Errorf("script %s: timeout %s is out of range 0..24h", name, r.Timeout))
	}
	if err := CheckParamSpecs(r.Params); err != nil {
		return LibraryScript{}, badInput(fmt.Errorf("script %s: %w", name, err))
	}
	params := r.Params
	if params == nil {
		params = []ParamSpec{}
	}
	js, err := json.Marshal(params)
	if err != nil {
		return LibraryScript{}, fmt.Errorf("script %s: %w", name, err)
	}
	s, err := e.db.AddScript(context.WithoutCancel(ctx), store.Script{Name: name, Description: r.Description, Params: js,
		Body: r.Body, Timeout: r.Timeout, CreatedBy: id.User})
	if err != nil {
		return LibraryScript{}, err
	}
	e.log.Info("library script added", "script", s.Name, "version", s.Version, "user", id.User)
	return libraryScript(s)
}

func libraryScript(s store.Script) (LibraryScript, error) {
	var params []ParamSpec
	if err := json.Unmarshal(s.Params, &params); err != nil {
		return LibraryScript{}, fmt.Errorf("script %s v%d: params: %w", s.Name, s.Version, err)
	}
	return LibraryScript{Name: s.Name, Version: s.Version, Description: s.Description, Params: params, Timeout: s.Timeout,
		CreatedBy: s.CreatedBy, CreatedAt: s.CreatedAt, Body: s.Body}, nil
}

// listScripts lists every version of name, or the latest of each script.
func (e *Engine) listScripts(ctx context.Context, name string) ([]LibraryScript, error) {
	ss, err := e.db.ListScripts(ctx, name)
	if err != nil {
		return nil, err
	}
	if name != "" && len(ss) == 0 {
		return nil, fmt.Errorf("script %s: %w", name, store.ErrNotFound)
	}
	out := make([]LibraryScript, 0, len(ss))
	for _, s := range ss {
		ls, err := libraryScript(s)
		if err != nil {
			return nil, err
		}
		out = append(out, ls)
	}
	return out, nil
}

// prepareLibraryRun loads the library script a run-script names, checks
// the run's params against its specs and builds what is sent.
func (e *Engine) prepareLibraryRun(ctx context.Context, p *runPlan, ao ActionOptions) error {
	name := p.params["script"]
	version := 0
	if v := p.params["version"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("run-script: param version: %q is not a version number", v)
		}
		version = n
	}
	s, err := e.db.GetScript(ctx, name, version)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("run-script: %w (rmm scripts list shows the library)", err)
		}
		return err
	}
	ls, err := libraryScript(s)
	if err != nil {
		return err
	}
	own := map[string]string{}
	for k, v := range p.params {
		if k != "script" && k != "version" {
			own[k] = v
		}
	}
	if err := validateParams(ls.Params, own, false); err != nil {
		return fmt.Errorf("run-script %s v%d: %w", ls.Name, ls.Version, err)
	}
	own = withDefaults(ls.Params, own)
	p.params = own
	p.params["script"], p.params["version"] = ls.Name, strconv.Itoa(ls.Version)
	p.scriptVersion = ls.Version
	p.timeout = ls.Timeout
	if p.timeout <= 0 {
		p.timeout = ao.ScriptTimeout
	}
	p.sc = winrm.NewScript("library:"+ls.Name, LibraryBody(ls, own))
	return nil
}

// LibraryBody is what a RunScript sends: one `$Name = 'value'` line per
// declared parameter (in declaration order; empty for one not given), then
// the script's body.
func LibraryBody(s LibraryScript, params map[string]string) string {
	var b strings.Builder
	for _, p := range s.Params {
		b.WriteString("$")
		b.WriteString(p.Name)
		b.WriteString(" = ")
		b.WriteString(scripts.Quote(params[p.Name]))
		b.WriteString("\n")
	}
	b.WriteString(s.Body)
	return b.String()
}
