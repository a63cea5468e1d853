package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/rmmhq/rmm/creds"
	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

func stepOf(rep engine.DoctorReport, name string) engine.DoctorStep {
	for _, s := range rep.Steps {
		if strings.HasPrefix(s.Name, name) {
			return s
		}
	}
	return engine.DoctorStep{}
}

func TestDoctorWalksEveryStepOnAHealthyHost(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 4})
	eng := newEngine(t, db, engine.Options{})
	host := fleet.Hosts()[0].Hostname
	rep, err := engine.Call(context.Background(), eng, engine.Identity{User: "op", Role: engine.RoleOperator, Via: engine.ViaCLI}, engine.Diagnose{Host: host})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("report not ok: %+v", rep)
	}
	for _, name := range []string{"device", "tcp", "ws-man identify", "credential", "auth basic", "shell", "powershell", "warm loop"} {
		if s := stepOf(rep, name); s.Status != "ok" {
			t.Errorf("step %s: %+v", name, s)
		}
	}
	if s := stepOf(rep, "powershell"); !strings.Contains(s.Detail, "5.1.") {
		t.Errorf("powershell step %q lacks the 5.1 version", s.Detail)
	}
	if s := stepOf(rep, "unencrypted policy"); s.Status != "warn" || s.Fix == "" {
		t.Errorf("Basic over HTTP not flagged: %+v", s)
	}
}

func TestDoctorNamesTheFailingStepAndItsFix(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 4})
	ctx := context.Background()
	admin := engine.Identity{User: "a", Role: engine.RoleAdmin, Via: engine.ViaCLI}

	wrong := newEngine(t, db, engine.Options{Credential: engine.Credential{User: "rmm", Password: "not-it"}})
	rep, _ := engine.Call(ctx, wrong, admin, engine.Diagnose{Host: fleet.Hosts()[0].Hostname})
	if s := stepOf(rep, "auth basic"); rep.OK || s.Status != "fail" || !strings.Contains(s.Fix, "Basic") {
		t.Fatalf("wrong password: %+v", rep)
	}
	if stepOf(rep, "shell").Name != "" {
		t.Fatal("doctor went on past a failed authentication")
	}

	off := fleet.Hosts()[1].Hostname
	if err := fleet.SetOnline(off, false); err != nil {
		t.Fatal(err)
	}
	eng := newEngine(t, db, engine.Options{})
	rep, _ = engine.Call(ctx, eng, admin, engine.Diagnose{Host: off})
	if s := stepOf(rep, "tcp"); rep.OK || s.Status != "fail" || !strings.Contains(s.Fix, "winrm quickconfig") {
		t.Fatalf("offline host: %+v", rep)
	}

	_, err := engine.Call(ctx, eng, engine.Identity{User: "v", Role: engine.RoleViewer, Via: engine.ViaCLI}, engine.Diagnose{Host: off})
	if err == nil {
		t.Fatal("a Viewer ran doctor with the stored credential")
	}
}

func TestCredsTestTriesTheNamedCredentialAndIsAdminOnly(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 1, Seed: 4})
	ctx := context.Background()
	vault := creds.NewMemoryStore()
	eng := newEngine(t, db, engine.Options{Credentials: vault})
	admin := engine.Identity{User: "a", Role: engine.RoleAdmin, Via: engine.ViaCLI}
	for name, pw := range map[string]string{"good": winrmsim.DefaultPassword, "bad": "nope"} {
		if _, err := engine.Call(ctx, eng, admin, engine.SetCredential{Name: name, User: winrmsim.DefaultUser, Secret: creds.NewSecret(pw)}); err != nil {
			t.Fatal(err)
		}
	}
	host := fleet.Hosts()[0].Hostname
	good, err := engine.Call(ctx, eng, admin, engine.Diagnose{Host: host, Credential: "good"})
	if err != nil || !good.OK {
		t.Fatalf("good credential: %v %+v", err, good)
	}
	if rep, _ := engine.Call(ctx, eng, admin, engine.Diagnose{Host: host, Credential: "bad"}); rep.OK || stepOf(rep, "auth basic").Status != "fail" {
		t.Fatalf("bad credential passed: %+v", rep)
	}
	if _, err := engine.Call(ctx, eng, engine.Identity{User: "o", Role: engine.RoleOperator, Via: engine.ViaCLI}, engine.Diagnose{Host: host, Credential: "good"}); err == nil {
		t.Fatal("an Operator tested a named credential")
	}
}

func TestDoctorChecksTheCertificateTheDeviceWouldGet(t *testing.T) {
	probe, err := winrmsim.New(winrmsim.Config{Devices: 3, Seed: 31})
	if err != nil {
		t.Fatal(err)
	}
	hs := probe.Hosts()
	fleet, db := testFleet(t, winrmsim.Config{Devices: 3, Seed: 31,
		TLS: &winrmsim.TLSOptions{WrongName: []string{hs[1].Hostname}, Expired: []string{hs[2].Hostname}}})
	ctx := context.Background()
	op := engine.Identity{User: "op", Role: engine.RoleOperator, Via: engine.ViaCLI}
	eng := newEngine(t, db, engine.Options{})
	diagnose := func(host string) engine.DoctorReport {
		rep, err := engine.Call(ctx, eng, op, engine.Diagnose{Host: host})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if s := stepOf(diagnose(hs[0].Hostname), "tls"); s.Status != "fail" || !strings.Contains(s.Detail, "unknown authority") || !strings.Contains(s.Fix, "ca_bundle") {
		t.Errorf("no CA bundle: %+v", s)
	}
	if err := eng.SetTransportOptions(winrm.TransportOptions{CABundle: caFile(t, fleet)}); err != nil {
		t.Fatal(err)
	}
	rep := diagnose(hs[0].Hostname)
	if s := stepOf(rep, "tls"); !rep.OK || s.Status != "ok" || !strings.Contains(s.Detail, "verified") || !strings.Contains(s.Detail, "days)") {
		t.Errorf("good certificate: %+v", rep)
	}
	if s := stepOf(rep, "unencrypted policy"); s.Status != "ok" {
		t.Errorf("HTTPS policy: %+v", s)
	}
	if s := stepOf(diagnose(hs[1].Hostname), "tls"); s.Status != "fail" || !strings.Contains(s.Detail, "wrong host name") || !strings.Contains(s.Fix, "FQDN") {
		t.Errorf("wrong-name certificate: %+v", s)
	}
	if s := stepOf(diagnose(hs[2].Hostname), "tls"); s.Status != "fail" || !strings.Contains(s.Detail, "expired") || !strings.Contains(s.Fix, "renew") {
		t.Errorf("expired certificate: %+v", s)
	}
	yes := true
	setDevice(t, db, store.DeviceInput{Hostname: hs[2].Hostname, InsecureSkipVerify: &yes})
	if err := eng.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if s := stepOf(diagnose(hs[2].Hostname), "tls"); s.Status != "warn" || !strings.Contains(s.Detail, "NOT verified") {
		t.Errorf("insecure device with an expired certificate: %+v", s)
	}
}

func TestDoctorReportsTheAuthMethodAndTheUnencryptedPolicy(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 32})
	ctx := context.Background()
	hs := fleet.Hosts()
	no := false
	setDevice(t, db, store.DeviceInput{Hostname: hs[0].Hostname, AllowUnencrypted: &no})
	setDevice(t, db, store.DeviceInput{Hostname: hs[1].Hostname, Auth: store.AuthNTLM})
	eng := newEngine(t, db, engine.Options{})
	op := engine.Identity{User: "op", Role: engine.RoleOperator, Via: engine.ViaCLI}

	rep, _ := engine.Call(ctx, eng, op, engine.Diagnose{Host: hs[0].Hostname})
	if s := stepOf(rep, "unencrypted policy"); rep.OK || s.Status != "fail" || !strings.Contains(s.Fix, "5986") {
		t.Errorf("Basic over HTTP without AllowUnencrypted: %+v", rep)
	}
	if stepOf(rep, "tcp").Status != "ok" || stepOf(rep, "credential").Name != "" {
		t.Errorf("the doctor should check the network and stop before sending the credential: %+v", rep)
	}

	rep, _ = engine.Call(ctx, eng, op, engine.Diagnose{Host: hs[1].Hostname})
	if s := stepOf(rep, "unencrypted policy"); s.Status != "ok" || !strings.Contains(s.Detail, "message encryption") {
		t.Errorf("NTLM over HTTP policy: %+v", s)
	}
	if s := stepOf(rep, "auth offered"); s.Status != "ok" || !strings.Contains(s.Detail, "Negotiate") {
		t.Errorf("the schemes the host offers: %+v", s)
	}
	if s := stepOf(rep, "auth ntlm"); s.Status != "ok" || !strings.Contains(s.Detail, "ntlm") {
		t.Errorf("auth step of an NTLM-over-HTTP device (the host's local account): %+v", s)
	}
	if s := stepOf(rep, "encryption"); s.Status != "ok" || !strings.Contains(s.Detail, "every message sealed") {
		t.Errorf("encryption of an NTLM-over-HTTP device: %+v", s)
	}
	if s := stepOf(rep, "warm loop"); !rep.OK || s.Status != "ok" {
		t.Errorf("NTLM through the pool and the loop: %+v", rep)
	}
}
