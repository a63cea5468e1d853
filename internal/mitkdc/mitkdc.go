// Package mitkdc runs a throwaway MIT Kerberos KDC (Debian's krb5-kdc
// and krb5-admin-server) on 127.0.0.1 for rmm's tests and benchmarks: a
// realm in a temporary directory, its principals made with kadmin.local,
// the hosts' keys exported to a keytab, and the KDC stopped at the end.
// A real KDC, not a mock: the tickets rmm's client gets and the
// simulator's hosts check are the ones MIT krb5 issues.
//
// It needs krb5kdc, kdb5_util and kadmin.local on the PATH or in
// /usr/sbin; Available says which one is missing.
package mitkdc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Packages is what Debian installs the binaries with.
const Packages = "krb5-kdc krb5-admin-server"

// binaries are the programs the KDC needs.
var binaries = []string{"krb5kdc", "kdb5_util", "kadmin.local"}

// lookPath finds a program on the PATH or in /usr/sbin (where Debian puts
// them, often not on a user's PATH).
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join("/usr/sbin", name)
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
		return p, nil
	}
	return "", fmt.Errorf("%s not found (apt-get install %s)", name, Packages)
}

// Available reports whether an MIT KDC can be started here.
func Available() error {
	for _, b := range binaries {
		if _, err := lookPath(b); err != nil {
			return err
		}
	}
	return nil
}

// Options configure a KDC.
type Options struct {
	Realm string // e.g. RMMLAB.TEST (required)
	// MaxLife and MaxRenewableLife bound tickets (default 10h and 7d).
	MaxLife, MaxRenewableLife time.Duration
}

// KDC is a running MIT KDC.
type KDC struct {
	Realm string
	Addr  string // 127.0.0.1:port, TCP and UDP
	Dir   string

	env    []string
	kadmin string
	cmd    *exec.Cmd
	done   chan struct{}
	mu     sync.Mutex
	waited error
}

// Start creates a realm in dir and starts its KDC. Stop it with Stop.
func Start(ctx context.Context, dir string, o Options) (*KDC, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if o.Realm == "" {
		return nil, errors.New("mitkdc: no realm")
	}
	if o.MaxLife == 0 {
		o.MaxLife = 10 * time.Hour
	}
	if o.MaxRenewableLife == 0 {
		o.MaxRenewableLife = 7 * 24 * time.Hour
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	k := &KDC{Realm: o.Realm, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: dir, done: make(chan struct{})}
	krb5conf := fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_kdc = false
	dns_lookup_realm = false
	rdns = false
	udp_preference_limit = 1
	permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
[realms]
	%[1]s = {
		kdc = %[2]s
		admin_server = 127.0.0.1:1
	}
[domain_realm]
	.%[3]s = %[1]s
`, o.Realm, k.Addr, strings.ToLower(o.Realm))
	kdcconf := fmt.Sprintf(`[kdcdefaults]
	kdc_listen = 127.0.0.1:%[2]d
	kdc_tcp_listen = 127.0.0.1:%[2]d
[realms]
	%[1]s = {
		database_name = %[3]s/principal
		key_stash_file = %[3]s/stash
		acl_file = %[3]s/kadm5.acl
		max_life = %[4]ds
		max_renewable_life = %[5]ds
		supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
		default_principal_flags = +preauth
	}
[logging]
	kdc = FILE:%[3]s/kdc.log
`, o.Realm, port, dir, int(o.MaxLife.Seconds()), int(o.MaxRenewableLife.Seconds()))
	for name, text := range map[string]string{"krb5.conf": krb5conf, "kdc.conf": kdcconf, "kadm5.acl": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			return nil, fmt.Errorf("mitkdc: %w", err)
		}
	}
	k.env = append(os.Environ(), "KRB5_CONFIG="+filepath.Join(dir, "krb5.conf"), "KRB5_KDC_PROFILE="+filepath.Join(dir, "kdc.conf"))
	k.kadmin, _ = lookPath("kadmin.local")
	kdb, _ := lookPath("kdb5_util")
	// The master key is throwaway, like the realm.
	if out, err := k.run(ctx, kdb, nil, "create", "-s", "-r", o.Realm, "-P", "mitkdc-throwaway-master"); err != nil {
		return nil, fmt.Errorf("mitkdc: kdb5_util create: %w: %s", err, out)
	}
	bin, _ := lookPath("krb5kdc")
	cmd := exec.Command(bin, "-n", "-r", o.Realm)
	cmd.Env = k.env
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("mitkdc: start krb5kdc: %w", err)
	}
	k.cmd = cmd
	go func() { // owned by the KDC: ends when the process does (Stop)
		err := cmd.Wait()
		k.mu.Lock()
		k.waited = err
		k.mu.Unlock()
		close(k.done)
	}()
	// Ready when it accepts TCP connections; bounded so a broken
	// configuration fails instead of hanging.
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", k.Addr, time.Second)
		if err == nil {
			c.Close()
			return k, nil
		}
		select {
		case <-k.done:
			return nil, fmt.Errorf("mitkdc: krb5kdc exited: %v: %s", k.waitErr(), stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = k.Stop()
			return nil, fmt.Errorf("mitkdc: krb5kdc does not answer on %s: %s", k.Addr, stderr.String())
		}
	}
}

func (k *KDC) waitErr() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.waited
}

// freePort is a port free on 127.0.0.1 for TCP and UDP now.
func freePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("mitkdc: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err == nil {
			u.Close()
			return port, nil
		}
	}
	return 0, errors.New("mitkdc: no free port")
}

func (k *KDC) run(ctx context.Context, bin string, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = k.env
	cmd.Dir = k.Dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	return cmd.CombinedOutput()
}

// Kadmin runs kadmin.local queries, one per line of the script, in one
// process (thousands of principals take seconds, not one process each).
func (k *KDC) Kadmin(ctx context.Context, queries ...string) error {
	return k.kadminRun(ctx, false, queries)
}

// kadminRun runs queries; existing principals are no error when
// existsOK.
func (k *KDC) kadminRun(ctx context.Context, existsOK bool, queries []string) error {
	var script bytes.Buffer
	for _, q := range queries {
		script.WriteString(q)
		script.WriteByte('\n')
	}
	out, err := k.run(ctx, k.kadmin, script.Bytes(), "-r", k.Realm)
	if err != nil {
		return fmt.Errorf("mitkdc: kadmin.local: %w: %s", err, out)
	}
	// kadmin.local exits 0 even when a query fails: its errors say so.
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		if existsOK && strings.Contains(l, "already exists") {
			continue
		}
		if strings.Contains(l, "while ") || strings.Contains(l, "error") || strings.Contains(l, "Unknown request") {
			return fmt.Errorf("mitkdc: kadmin.local: %s", l)
		}
	}
	return nil
}

// AddUser creates a user principal with a password.
func (k *KDC) AddUser(ctx context.Context, name, password string) error {
	if strings.ContainsAny(password, "\"\n") || strings.ContainsAny(name, " \"\n") {
		return errors.New("mitkdc: names and passwords must not hold quotes, spaces or newlines")
	}
	return k.Kadmin(ctx, fmt.Sprintf(`addprinc -pw "%s" %s`, password, name))
}

// AddHosts creates the service principals HTTP/<fqdn> with random keys
// (keeping those that exist) and returns a keytab holding their keys
// (what each host keeps).
func (k *KDC) AddHosts(ctx context.Context, fqdns []string) ([]byte, error) {
	kt := filepath.Join(k.Dir, fmt.Sprintf("hosts-%d.keytab", time.Now().UnixNano()))
	var qs []string
	for _, h := range fqdns {
		qs = append(qs, "addprinc -randkey HTTP/"+strings.ToLower(h))
	}
	for start := 0; start < len(fqdns); start += 200 {
		q := "ktadd -k " + kt + " -norandkey"
		for _, h := range fqdns[start:min(start+200, len(fqdns))] {
			q += " HTTP/" + strings.ToLower(h)
		}
		qs = append(qs, q)
	}
	if err := k.kadminRun(ctx, true, qs); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(kt)
	if err != nil {
		return nil, fmt.Errorf("mitkdc: keytab: %w", err)
	}
	return b, nil
}

// Krb5Conf is the path of a krb5.conf naming this KDC (KRB5_CONFIG for
// MIT's clients, pywinrm's among them).
func (k *KDC) Krb5Conf() string { return filepath.Join(k.Dir, "krb5.conf") }

// Log returns the KDC's log: one line per AS and TGS request it
// answered.
func (k *KDC) Log() string {
	b, _ := os.ReadFile(filepath.Join(k.Dir, "kdc.log"))
	return string(b)
}

// Requests counts the AS and TGS requests in the KDC's log.
func (k *KDC) Requests() (as, tgs int) {
	for _, l := range strings.Split(k.Log(), "\n") {
		switch {
		case strings.Contains(l, "AS_REQ"):
			as++
		case strings.Contains(l, "TGS_REQ"):
			tgs++
		}
	}
	return as, tgs
}

// Stop ends the KDC and waits for it.
func (k *KDC) Stop() error {
	if k.cmd == nil || k.cmd.Process == nil {
		return nil
	}
	select {
	case <-k.done:
		return nil
	default:
	}
	_ = k.cmd.Process.Signal(os.Interrupt)
	select {
	case <-k.done:
	case <-time.After(5 * time.Second):
		_ = k.cmd.Process.Kill()
		<-k.done
	}
	return nil
}
