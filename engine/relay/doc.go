// Package relay runs rmm's site relays on embedded NATS JetStream.
//
// Central (the console, rmm serve) embeds a Hub: a nats-server with the
// JetStream domain "central", a leaf node listener that advertises
// nothing (no_advertise), and one NATS account per enrolled site, so a
// relay sees nothing of another site. A site's Relay (rmm relay) embeds
// a nats-server leaf node that only dials out to the hub, with its own
// JetStream domain and store, and runs the engine over its own SQLite
// holding only its site's devices.
//
// Results flow up: each poll the relay records is published to the
// relay's OUTBOX stream (so it is kept while the link is down) with its
// idempotency key as Nats-Msg-Id; central pulls OUTBOX through the
// relay's JetStream domain with a durable consumer, applies a batch to
// its SQLite in one transaction that also records the keys
// (store.ApplyRelayPolls), and acknowledges after the commit, so nothing
// is lost and nothing is applied twice.
//
// Commands flow down: central's engine authorises and audits a request
// (RBAC), then the hub signs a command envelope with central's ed25519
// key and publishes it to the site account's CMD stream; the relay pulls
// it through the hub's domain, checks the signature against the key
// pinned in its credentials file, the site, the expiry and the role
// again, executes it once (store.MarkApplied) and acknowledges it.
package relay
