package mitkdc_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/internal/mitkdc"
)

func TestAThrowawayRealmIssuesTicketsToItsUserAndHosts(t *testing.T) {
	if err := mitkdc.Available(); err != nil {
		t.Skipf("no MIT KDC here: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k, err := mitkdc.Start(ctx, t.TempDir(), mitkdc.Options{Realm: "KDCTEST.TEST"})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()
	if err := k.AddUser(ctx, "alice", "Secret-123"); err != nil {
		t.Fatal(err)
	}
	kt, err := k.AddHosts(ctx, []string{"ws-0001.kdctest.test", "ws-0002.kdctest.test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(kt) < 100 || kt[0] != 5 {
		t.Fatalf("keytab of %d bytes", len(kt))
	}
	if err := k.Kadmin(ctx, "getprinc nobody"); err == nil {
		t.Fatal("kadmin.local's failure was not reported")
	}
	// MIT's own client gets a TGT from it: the realm works.
	kinit, err := exec.LookPath("kinit")
	if err != nil {
		t.Skip("no kinit to check with")
	}
	cmd := exec.CommandContext(ctx, kinit, "-c", "FILE:"+t.TempDir()+"/cc", "alice@KDCTEST.TEST")
	cmd.Env = []string{"KRB5_CONFIG=" + k.Krb5Conf()}
	cmd.Stdin = strings.NewReader("Secret-123\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kinit: %v: %s", err, out)
	}
	if as, _ := k.Requests(); as == 0 {
		t.Errorf("the KDC logged no AS request:\n%s", k.Log())
	}
}
