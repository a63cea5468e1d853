package cmd

import (
	"regexp"
	"strings"
)

// secretEnv are the variables rmm reads secrets from; a child process
// rmm starts never gets them.
var secretEnv = []string{"RMM_WINRM_USER", "RMM_WINRM_PASSWORD", "RMM_VAULT_PASSPHRASE", "SSH_AUTH_SOCK"}

// secretName matches other variables that by their name hold a secret
// (a password, a token, a key), whoever set them.
var secretName = regexp.MustCompile(`(?i)(pass(word|phrase)?|secret|token|credential|private|api_?key|_key$|^key$)`)

// childEnv is env (KEY=VALUE lines) without the variables that hold
// secrets: what a child process rmm starts (the benchmark's simulator)
// inherits. Reliability F12: the bench child had RMM_VAULT_PASSPHRASE and
// RMM_WINRM_PASSWORD in /proc/PID/environ, which it never needs.
func childEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if isSecretEnv(k) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func isSecretEnv(k string) bool {
	for _, s := range secretEnv {
		if strings.EqualFold(k, s) {
			return true
		}
	}
	return secretName.MatchString(k)
}
