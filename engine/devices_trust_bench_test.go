package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/store"
)

// BenchmarkAnOperatorsImportAgainstAnAdmins measures what the trust check
// (one indexed lookup of the stored device per row, devices_trust.go)
// costs an Operator's streamed import of harmless updates, against the
// same import by an Admin, which is not checked. It prints the ratio.
//
//	go test ./engine -run XXX -bench AnOperatorsImport -benchtime 1x
func BenchmarkAnOperatorsImportAgainstAnAdmins(b *testing.B) {
	const rows = 20000
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "rmm.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	eng, err := engine.New(ctx, db, engine.Options{NoDeviceList: true})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	file := func(desc string) string {
		var sb strings.Builder
		sb.WriteString("Hostname,IPAddress,Description\n")
		for i := range rows {
			fmt.Fprintf(&sb, "WS-%06d,10.%d.%d.%d,%s\n", i, i>>16&255, i>>8&255, i&255, desc)
		}
		return sb.String()
	}
	if _, err := engine.Call(ctx, eng, admin, csvImport("base.csv", file("first"))); err != nil {
		b.Fatal(err)
	}
	timeIt := func(id engine.Identity, desc string) time.Duration {
		start := time.Now()
		res, err := engine.Call(ctx, eng, id, csvImport("update.csv", file(desc)))
		if err != nil || res.Updated != rows {
			b.Fatalf("import as %s: %+v %v", id.Role, res, err)
		}
		return time.Since(start)
	}
	for i := 0; i < b.N; i++ {
		a := timeIt(admin, fmt.Sprintf("admin-%d", i))
		o := timeIt(operator, fmt.Sprintf("operator-%d", i))
		b.Logf("%d rows: Admin %s, Operator %s (trust check), ratio %.2f", rows, a.Round(time.Millisecond), o.Round(time.Millisecond), float64(o)/float64(a))
		b.ReportMetric(float64(o)/float64(a), "operator/admin")
	}
}
