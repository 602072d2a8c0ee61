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

// Optional holds rules shipped but not loaded by default, under
// optional/: first-seen source addresses, which on a new installation,
// with no history to learn from, fire once for every user's first
// address. Enable them by id with rules.optional (Pack), or copy one into
// a directory of rules.paths.
//
//go:embed optional/*.yaml
var Optional embed.FS
