// Package ui is the full-screen console: a Bubble Tea v2 model that renders
// engine state (the device grid, fleet summary, help) and sends requests to
// the engine through a small Client interface.
//
// It never touches SQLite or WinRM: everything it shows comes from the
// engine's snapshot and its event subscription, and everything it does goes
// through the engine, which authorizes and audits. Sorting, filtering and
// formatting are plain functions on []engine.DeviceState, tested without a
// terminal.
package ui
