package winrm

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"

	"github.com/rmmhq/rmm/internal/mitkdc"
)

func TestTheTGTIsRenewedBeforeItExpiresAndServiceTicketsAreKeptForTheirLifetime(t *testing.T) {
	if err := mitkdc.Available(); err != nil {
		t.Skipf("Kerberos tests need an MIT KDC: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k, err := mitkdc.Start(ctx, t.TempDir(), mitkdc.Options{Realm: "RENEW.TEST"})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()
	if err := k.AddUser(ctx, "svc", "Renew-pw-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.AddHosts(ctx, []string{"a.renew.test", "b.renew.test", "c.renew.test"}); err != nil {
		t.Fatal(err)
	}
	kc := newKerberosClient(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := kc.configure(KerberosOptions{KDCs: map[string][]string{"RENEW.TEST": {k.Addr}}}); err != nil {
		t.Fatal(err)
	}
	c, err := kc.credFor("svc@RENEW.TEST", krbSecret{password: "Renew-pw-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.serviceTicket(ctx, c, "a.renew.test"); err != nil {
		t.Fatal(err)
	}
	if as, tgs := k.Requests(); as != 2 || tgs != 1 {
		t.Fatalf("first ticket: %d AS, %d TGS; want 2 (pre-authentication asked for) and 1", as, tgs)
	}
	// The TGT has a sixth of its life left: the next ticket renews it
	// first (a TGS exchange with the TGT), no new login.
	c.mu.Lock()
	if !c.tgt.renewable {
		c.mu.Unlock()
		t.Fatal("the TGT is not renewable")
	}
	c.tgt.start = time.Now().Add(-9 * time.Hour)
	c.tgt.end = time.Now().Add(time.Hour)
	old := c.tgt
	c.mu.Unlock()
	if _, err := kc.serviceTicket(ctx, c, "b.renew.test"); err != nil {
		t.Fatal(err)
	}
	if as, tgs := k.Requests(); as != 2 || tgs != 3 {
		t.Fatalf("after renewal: %d AS, %d TGS; want 2 and 3 (the renewal, the ticket)", as, tgs)
	}
	c.mu.Lock()
	renewed := c.tgt
	c.mu.Unlock()
	if renewed == old || !renewed.fresh(time.Now()) {
		t.Fatalf("the TGT was not replaced by a fresh one")
	}
	// A ticket already held is used for its lifetime: no KDC request.
	before := kc.requests.Load()
	for range 10 {
		if _, err := kc.serviceTicket(ctx, c, "a.renew.test"); err != nil {
			t.Fatal(err)
		}
	}
	if n := kc.requests.Load() - before; n != 0 {
		t.Errorf("%d KDC requests for a cached ticket", n)
	}
	// A TGT past its renewal time is obtained again with the password.
	c.mu.Lock()
	c.tgt.renewTill = time.Now()
	c.tgt.start, c.tgt.end = time.Now().Add(-9*time.Hour), time.Now().Add(time.Minute)
	c.mu.Unlock()
	if _, err := kc.serviceTicket(ctx, c, "c.renew.test"); err != nil {
		t.Fatal(err)
	}
	if as, _ := k.Requests(); as != 4 {
		t.Errorf("%d AS requests; want 4: a new login once the TGT could not be renewed", as)
	}
}

func TestKerberosErrorsSayWhichProblemAndWhatToDo(t *testing.T) {
	p := krbPrincipal{user: "svc", realm: "CONTOSO.COM"}
	kc := &kerberosClient{}
	tests := []struct {
		code   int32
		host   bool // the host answered, not the KDC
		reason string
		fix    string
	}{
		{errorcode.KRB_AP_ERR_SKEW, false, "clock skew", "synchronise"},
		{errorcode.KRB_AP_ERR_SKEW, true, "clock skew", "w32tm"},
		{errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN, false, "unknown principal", "realm"},
		{errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN, false, "no SPN", "setspn"},
		{errorcode.KDC_ERR_KEY_EXPIRED, false, "password expired", "change it"},
		{errorcode.KDC_ERR_PREAUTH_FAILED, false, "wrong password", "rmm creds set"},
		{errorcode.KDC_ERR_CLIENT_REVOKED, false, "account disabled", "unlock"},
		{errorcode.KDC_ERR_WRONG_REALM, false, "wrong realm", "realm"},
		{errorcode.KDC_ERR_ETYPE_NOSUPP, false, "no AES key", "msDS-SupportedEncryptionTypes"},
		{errorcode.KRB_AP_ERR_MODIFIED, true, "ticket rejected", "setspn"},
		{errorcode.KRB_AP_ERR_TKT_EXPIRED, true, "ticket expired", "clocks"},
	}
	for _, tt := range tests {
		var err error
		if tt.host {
			err = hostRejected(tt.code, "")
		} else {
			err = kc.kdcFailure(&KDCError{Code: tt.code, KDC: "dc1:88"}, p, "HTTP/ws1.contoso.com@CONTOSO.COM")
		}
		var ke *KerberosError
		if !errors.As(err, &ke) || ke.Reason != tt.reason || !strings.Contains(ke.Fix, tt.fix) || ClassOf(err) != ClassConfiguration {
			t.Errorf("code %d (host %v): %v; want a configuration error %q whose fix says %q", tt.code, tt.host, err, tt.reason, tt.fix)
		}
	}
}
