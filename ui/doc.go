// Package ui is the full-screen console: a Bubble Tea v2 model that renders
// engine state and sends requests to the engine through a small Client
// interface.
//
// The console has views, listed in a tab bar and switched with 1..9, a
// click or a :command: the device grid (filter, sort, group by site,
// marks, poll now), the unresolved alerts (ack, resolve), a device's
// detail (identity, health breakdown, its alerts, last error, a day of
// CPU and memory), the scheduled jobs (run one now), the audit log and
// the effective settings. The views are one table (pages.go): a new view
// is one entry there, and the tab bar, the number keys and the command
// palette pick it up.
//
// Beyond Client, the console uses what its client also offers, found by
// type assertion: AlertSource, HealthSource, ScheduleSource, PoolSource
// (*engine.Engine has them all) and Requester, whose Do the front end
// binds to the user's identity. A view whose data the client does not
// offer is not shown at all. Options.Role only decides which request keys
// and views are offered; every request goes to the engine, which
// authorizes and audits it, and its refusal is shown as it says it.
//
// It never touches SQLite or WinRM: everything it shows comes from the
// engine's snapshot, its event subscription and the loads it starts in
// tea.Cmds, and everything it does goes through the engine. Sorting,
// filtering (ParseFilter) and formatting are plain functions on engine
// values, tested without a terminal.
package ui
