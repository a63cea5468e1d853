package winrm_test

import (
	"errors"
	"go/build"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// DESIGN.md: engine/winrm imports nothing of the engine, the store or the
// config; it is a protocol client any front end could use. These tests
// read the import lists of the module's own directories (go/build, every
// GOOS the console is built for, no network) and follow them.

// platforms are the GOOS values whose files are read (fdlimit_unix.go,
// fdlimit_other.go...).
var platforms = []string{"linux", "darwin", "freebsd", "windows"}

// moduleRoot finds go.mod above the test's directory and returns its
// directory and module path.
func moduleRoot(t *testing.T) (dir, path string) {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			for line := range strings.SplitSeq(string(b), "\n") {
				if p, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
					return dir, strings.Trim(strings.TrimSpace(p), `"`)
				}
			}
			t.Fatalf("%s/go.mod names no module", dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// moduleImports reads what the package in the module's directory rel
// imports, on every platform: its own files, and with tests its test
// files too.
func moduleImports(t *testing.T, root, rel string, tests bool) []string {
	t.Helper()
	var out []string
	found := false
	for _, goos := range platforms {
		ctx := build.Default
		ctx.GOOS, ctx.GOARCH, ctx.CgoEnabled = goos, "amd64", false
		pkg, err := ctx.ImportDir(filepath.Join(root, filepath.FromSlash(rel)), build.ImportComment)
		var noGo *build.NoGoError
		if errors.As(err, &noGo) {
			continue
		}
		if err != nil {
			t.Fatalf("read %s (GOOS=%s): %v", rel, goos, err)
		}
		found = true
		out = append(out, pkg.Imports...)
		if tests {
			out = append(out, pkg.TestImports...)
			out = append(out, pkg.XTestImports...)
		}
	}
	if !found {
		t.Fatalf("no Go files in %s", rel)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// walkModuleImports follows the module's own packages imported by start,
// transitively (their non-test files), and returns each one with the
// package that first imported it.
func walkModuleImports(t *testing.T, root, mod string, start []string) map[string]string {
	t.Helper()
	by := make(map[string]string)
	queue := []string{}
	for _, p := range start {
		if _, seen := by[p]; !seen {
			by[p] = "(the package under test)"
			queue = append(queue, p)
		}
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, imp := range moduleImports(t, root, strings.TrimPrefix(strings.TrimPrefix(p, mod), "/"), false) {
			if imp != mod && !strings.HasPrefix(imp, mod+"/") {
				continue // the standard library and other modules import nothing of rmm
			}
			if _, seen := by[imp]; !seen {
				by[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	return by
}

// allowed reports whether p is one of the given packages or below them.
func allowed(p string, roots ...string) bool {
	for _, r := range roots {
		if p == r || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}

func TestTheWinRMClientImportsNothingOfTheEngineStoreConfigOrUI(t *testing.T) {
	root, mod := moduleRoot(t)
	self := mod + "/engine/winrm"
	psjson := mod + "/engine/psjson"
	// The client and every package of it (h1...).
	var start []string
	err := filepath.WalkDir(filepath.Join(root, "engine", "winrm"), func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if d.Name() == "testdata" {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(root, path)
		if m, _ := filepath.Glob(filepath.Join(path, "*.go")); len(m) > 0 {
			start = append(start, mod+"/"+filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	by := walkModuleImports(t, root, mod, start)
	for p, from := range by {
		if !allowed(p, self, psjson) {
			t.Errorf("%s imports %s: engine/winrm may import only itself and engine/psjson", from, p)
		}
	}
	// The walk saw what is known to be there, so it is not vacuous.
	for _, want := range []string{self + "/h1", psjson} {
		if _, ok := by[want]; !ok {
			t.Errorf("the walk did not reach %s (seen: %v)", want, keys(by))
		}
	}
}

func TestTheWinRMClientsTestsUseOnlyTheClientAndTheSimulator(t *testing.T) {
	root, mod := moduleRoot(t)
	self, psjson, sim := mod+"/engine/winrm", mod+"/engine/psjson", mod+"/engine/winrmsim"
	kdc := mod + "/internal/mitkdc" // a real MIT KDC for the Kerberos tests
	for _, rel := range []string{"engine/winrm", "engine/winrm/h1"} {
		for _, imp := range moduleImports(t, root, rel, true) {
			if allowed(imp, mod) && !allowed(imp, self, psjson, sim, kdc) {
				t.Errorf("the tests of %s import %s: they run against engine/winrmsim (and a real KDC) alone", rel, imp)
			}
		}
	}
	// The simulator plays Windows, and the KDC harness runs MIT's: they
	// import nothing of rmm, so these tests do not reach the engine
	// through them.
	for _, start := range []string{sim, kdc} {
		by := walkModuleImports(t, root, mod, []string{start})
		for p, from := range by {
			if p != start {
				t.Errorf("%s imports %s: %s imports nothing of rmm", from, p, start)
			}
		}
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
