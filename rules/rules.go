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
// optional/: rules that count nearly every event (a log source going
// silent, first-seen source addresses), which cost the detect stage a
// state-stage match per event, and whose new_term kind fires on every
// first sighting until it can learn from history. Enable one by copying it
// into a directory of rules.paths.
//
//go:embed optional/*.yaml
var Optional embed.FS
