package relay

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Stream, consumer and domain names.
const (
	hubDomain      = "central" // the hub's JetStream domain
	outboxStream   = "OUTBOX"  // on the relay: results waiting for central
	cmdStream      = "CMD"     // on the hub, in the site's account: commands waiting for the relay
	centralDurable = "central" // central's consumer of a relay's OUTBOX
	relayDurable   = "relay"   // the relay's consumer of its site's CMD
	sigHeader      = "Rmm-Sig" // base64 ed25519 signature of a command's body
)

// token is site as one NATS subject token, account and domain name part:
// lower case letters, digits, - and _ as they are, anything else (or a
// name too long) as a short hash, so two sites never share a token.
func token(site string) string {
	s := strings.ToLower(site)
	ok := s != "" && len(s) <= 40
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "x" + hex.EncodeToString(sum[:8])
}

func siteDomain(site string) string  { return "rmm-" + token(site) }
func siteAccount(site string) string { return "SITE_" + token(site) }
func leafUser(site string) string    { return "relay-" + token(site) }
func pollSubject(site string) string { return "rmm.evt." + token(site) + ".poll" }
func cmdSubject(site string) string  { return "rmm.cmd." + token(site) }
