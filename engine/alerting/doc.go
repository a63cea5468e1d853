// Package alerting holds what an admin sets about alerts, apart from the
// engine that acts on it: the thresholds a device is judged by (defaults,
// group and device overrides), the maintenance windows that silence it,
// and the weights of the health score. The config package parses into
// these types and the engine evaluates polls against them; the package
// itself reads nothing and raises nothing.
package alerting
