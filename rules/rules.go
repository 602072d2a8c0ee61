// Package rules holds Tripline's built-in detection rules: one YAML file
// per rule (see package detect for the format), embedded in the binary.
package rules

import "embed"

// Builtin is the built-in rule pack, embedded in the binary: every *.yaml
// file of this directory, at its root. Load it with
// detect.LoadFS(rules.Builtin, ".").
//
//go:embed *.yaml
var Builtin embed.FS
