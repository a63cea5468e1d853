// Package ui is the full-screen console: a Bubble Tea v2 model that renders
// engine state and sends requests to the engine through a small Client
// interface.
//
// The console has views, listed in a tab bar and switched with 1..9, a
// click or a :command: the device grid (filter, sort, group by site,
// marks), a device's detail (identity, last error, a day of CPU and
// memory) and the effective settings. The views are one table (pages.go):
// a new view is one entry there, and the tab bar, the number keys and the
// command palette pick it up.
//
// It never touches SQLite or WinRM: everything it shows comes from the
// engine's snapshot, its event subscription and the loads it starts in
// tea.Cmds, and everything it does goes through the engine, which
// authorizes and audits. Sorting, filtering (ParseFilter) and formatting
// are plain functions on engine.DeviceState, tested without a terminal.
package ui
