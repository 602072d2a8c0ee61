package gcplog

import (
	"encoding/json"
	"strconv"
)

// LogSeverity values (google.logging.type.LogSeverity).
const (
	severityDefault   = 0
	severityDebug     = 100
	severityInfo      = 200
	severityNotice    = 300
	severityWarning   = 400
	severityError     = 500
	severityCritical  = 600
	severityAlert     = 700
	severityEmergency = 800
)

var severities = map[string]int{
	"DEFAULT":   severityDefault,
	"DEBUG":     severityDebug,
	"INFO":      severityInfo,
	"NOTICE":    severityNotice,
	"WARNING":   severityWarning,
	"ERROR":     severityError,
	"CRITICAL":  severityCritical,
	"ALERT":     severityAlert,
	"EMERGENCY": severityEmergency,
}

// severity reads a LogSeverity, by name (proto3 JSON) or number; an
// unknown or absent severity is DEFAULT.
func severity(raw json.RawMessage) int {
	if len(raw) == 0 {
		return severityDefault
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return severityDefault
		}
		return severities[s]
	}
	n, err := strconv.Atoi(string(raw))
	if err != nil {
		return severityDefault
	}
	return n
}

// codeNames are the google.rpc.Code names.
var codeNames = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
	"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
}

// codeName names a google.rpc.Code, or gives its number when unknown.
func codeName(code int) string {
	if code >= 0 && code < len(codeNames) {
		return codeNames[code]
	}
	return strconv.Itoa(code)
}
