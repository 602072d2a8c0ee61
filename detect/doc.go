// Package detect evaluates detection rules against normalized events and
// produces findings.
//
// # Rules
//
// A rule is a YAML document (several per file, separated by "---"):
//
//	id: aws-lambda-permission-public      # unique, [a-z0-9._-]
//	title: Lambda function opened to any principal
//	severity: high                        # info | low | medium | high | critical
//	source: cloudtrail                    # one source or a list
//	description: why it matters, how to triage   # optional
//	when: |                               # expr-lang, must be boolean
//	  eventSource == "lambda.amazonaws.com" and eventName startsWith "AddPermission"
//	  and requestParameters.principal == "*"
//	summary: "{{ actor }} opened {{ requestParameters.functionName }}"  # optional, default title
//	tags: [attack.persistence]
//	references: [https://...]             # optional
//	tests:
//	  - name: public principal
//	    expect: true
//	    event: {...a raw record of the first source...}
//
// Unknown keys are errors. LoadFS, LoadPaths and Parse report every
// problem as a *LoadError with the file, line and column, including the
// position of an error inside an expression; a rule with a problem is left
// out and the others load. Ids are unique within what one loader call
// loads: a repeated id is such a problem. Merge combines the built-in
// pack with the user's rules, a user's rule replacing the built-in rule of
// the same id (a copy tuned for the site).
//
// # The rule language
//
// when is an expr-lang expression (https://expr-lang.org) compiled once,
// at load, with a typed environment:
//
//   - The record's own fields under their own names, decoded from
//     event.Raw (eventName, userIdentity.arn). For a source with a schema
//     (cloudtrail, k8s-audit) the top-level fields are declared with
//     their types, so a misspelled field fails at load; missing string
//     fields read as "",
//     missing bool fields as false, missing objects as nil. A source
//     without a schema (json) allows any name; an undefined one is nil.
//   - The normalized fields of event.Event by snake_case name (time,
//     source, event_id, account, region, service, actor, src_ip,
//     user_agent, action, target, outcome, status_code, error_code,
//     bytes_out, duration_ms, message), always with their Go types. A
//     record field of the same name wins when it has the same type.
//   - Member access is nil-safe: a.b.c is nil when a or a.b is missing or
//     null (reading a field of a string or number is a runtime error).
//     any, all, none, one, filter, map, count, len and the other
//     collection builtins treat nil as an empty list (so all(nil, ...) is
//     true, as in logic).
//   - Numbers in records are float64 and compare with integer literals as
//     numbers (fromPort == 22, fromPort in [22, 3389]).
//   - parseJSON(s) decodes JSON held in a string (nil if it is not), for
//     fields such as AddPermission's responseElements.statement.
//   - Comparing a string or bool field with nil is a load error, since it
//     can never be true; now() is disabled so that verdicts do not depend
//     on when a rule runs.
//
// summary's {{ }} parts are expressions in the same environment; nil and
// "" render as "-", control characters as spaces, and the result is capped
// at MaxSummaryLen bytes. Nothing is escaped here: sinks escape for their
// own format. A stateful rule's summary is rendered per finding by
// Rule.GroupSummary, with what was counted under group (see Group).
//
// # Evaluation
//
// NewEngine indexes rules by source. Each worker goroutine makes a
// Matcher, which holds a reusable expr VM; Matcher.Match decodes an
// event's record once for all rules and evaluates every rule of the
// event's source. Only the top-level fields the candidate rules name are
// decoded (a rule using $env gets them all), after checking the whole
// record is valid JSON; values are decoded with github.com/goccy/go-json,
// about twice as fast as encoding/json into map[string]any with the same
// results. A runtime error in one rule is counted and returned, wrapped in
// a *RuleError, and does not stop the others.
//
// # Prefilters
//
// Before decoding, the engine reads the few raw fields that rules compare
// with string literals in their top-level conjunction (eventName ==
// "StopLogging", eventName startsWith "AddPermission", userIdentity.type
// == "Root") with a scanner that never decodes, and skips rules whose
// conditions fail. When every rule of the source has such a condition and
// all fail, the event is not decoded at all; this is what most events
// (reads, describes, data events) cost. Skipping never changes a verdict:
// the scanner answers "unknown" whenever it cannot tell exactly what the
// decoder would see. A rule without such a condition makes the engine
// decode every event of its source; Rule.Prefilter shows a rule's
// conditions.
package detect
