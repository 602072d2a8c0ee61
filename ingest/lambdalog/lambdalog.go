// Package lambdalog parses the lines AWS Lambda writes to CloudWatch Logs:
// the platform lines (INIT_START, START, END, REPORT, timeouts), the
// runtime's tab-separated application lines, and the JSON log format's
// Telemetry API records ({time,type,record}).
package lambdalog

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Kinds of lines.
const (
	KindInitStart = "init_start" // INIT_START / platform.initStart
	KindStart     = "start"      // START / platform.start
	KindEnd       = "end"        // END / platform.runtimeDone
	KindReport    = "report"     // REPORT / platform.report
	KindTimeout   = "timeout"    // "Task timed out after N seconds"
	KindApp       = "app"        // a line the function wrote
	KindPlatform  = "platform"   // another platform.* record (extension, logsDropped, ...)
)

// Line is what one log line says.
type Line struct {
	Kind string `json:"kind"`
	// Time is the line's own time, if it has one.
	Time      time.Time `json:"time,omitzero"`
	RequestID string    `json:"request_id,omitempty"`
	Level     string    `json:"level,omitempty"`
	Message   string    `json:"message,omitempty"`
	// Type is the Telemetry API type (platform.report, function, ...) of
	// a JSON record.
	Type string `json:"type,omitempty"`
	// Version is the function version of START lines.
	Version string `json:"version,omitempty"`
	// RuntimeVersionARN comes from INIT_START lines.
	RuntimeVersionARN string `json:"runtime_version_arn,omitempty"`
	// REPORT metrics; InitDurationMS > 0 means a cold start.
	DurationMS       float64 `json:"duration_ms,omitempty"`
	BilledDurationMS float64 `json:"billed_duration_ms,omitempty"`
	MemorySizeMB     float64 `json:"memory_size_mb,omitempty"`
	MaxMemoryUsedMB  float64 `json:"max_memory_used_mb,omitempty"`
	InitDurationMS   float64 `json:"init_duration_ms,omitempty"`
	// Status is the JSON report's status: success, failure, error or
	// timeout ("timeout" also for text timeout lines).
	Status    string `json:"status,omitempty"`
	ErrorType string `json:"error_type,omitempty"`
}

// ColdStart reports whether the invocation had to initialize.
func (l *Line) ColdStart() bool { return l.InitDurationMS > 0 }

// Parse reads one message of a Lambda log group. It never fails: a line
// it does not recognize is an application line with the whole text as
// its message.
func Parse(msg string) Line {
	s := strings.TrimRight(msg, "\r\n\t ")
	switch {
	case strings.HasPrefix(s, "{"):
		if l, ok := parseJSON(s); ok {
			return l
		}
	case strings.HasPrefix(s, "START RequestId: "):
		id, rest, _ := strings.Cut(strings.TrimPrefix(s, "START RequestId: "), " ")
		return Line{Kind: KindStart, RequestID: id, Version: strings.TrimPrefix(strings.TrimSpace(rest), "Version: ")}
	case strings.HasPrefix(s, "END RequestId: "):
		return Line{Kind: KindEnd, RequestID: strings.TrimSpace(strings.TrimPrefix(s, "END RequestId: "))}
	case strings.HasPrefix(s, "REPORT RequestId: "):
		return parseReport(s)
	case strings.HasPrefix(s, "INIT_START "):
		l := Line{Kind: KindInitStart}
		for f := range strings.SplitSeq(strings.TrimPrefix(s, "INIT_START "), "\t") {
			if k, v, ok := strings.Cut(f, ": "); ok && k == "Runtime Version ARN" {
				l.RuntimeVersionARN = v
			}
		}
		return l
	}
	if l, ok := parseTimeout(s); ok {
		return l
	}
	return parseApp(s)
}

// parseReport reads "REPORT RequestId: id\tDuration: 37.18 ms\t..." in any
// field order.
func parseReport(s string) Line {
	l := Line{Kind: KindReport}
	for i, f := range strings.Split(s, "\t") {
		k, v, ok := strings.Cut(strings.TrimSpace(f), ": ")
		if !ok {
			continue
		}
		if i == 0 {
			l.RequestID = strings.TrimSpace(v)
			continue
		}
		num, _, _ := strings.Cut(v, " ")
		n, err := strconv.ParseFloat(num, 64)
		if err != nil {
			continue
		}
		switch k {
		case "Duration":
			l.DurationMS = n
		case "Billed Duration":
			l.BilledDurationMS = n
		case "Memory Size":
			l.MemorySizeMB = n
		case "Max Memory Used":
			l.MaxMemoryUsedMB = n
		case "Init Duration":
			l.InitDurationMS = n
		}
	}
	return l
}

// parseTimeout reads "[<time> <id>] Task timed out after 3.00 seconds",
// in its several runtime-specific shapes.
func parseTimeout(s string) (Line, bool) {
	i := strings.Index(s, "Task timed out after ")
	if i < 0 {
		return Line{}, false
	}
	l := Line{Kind: KindTimeout, Status: "timeout", Message: s[i:]}
	secs, _, _ := strings.Cut(strings.TrimPrefix(s[i:], "Task timed out after "), " ")
	if n, err := strconv.ParseFloat(secs, 64); err == nil {
		l.DurationMS = n * 1000
	}
	for f := range strings.FieldsSeq(s[:i]) {
		if t, err := time.Parse(time.RFC3339Nano, f); err == nil {
			l.Time = t.UTC()
		} else if looksLikeRequestID(f) {
			l.RequestID = f
		}
	}
	return l, true
}

// parseApp reads the runtime's "<time>\t<requestId>\t<LEVEL>\t<message>"
// (the level is absent in some runtimes); anything else is kept whole.
func parseApp(s string) Line {
	l := Line{Kind: KindApp, Message: s}
	parts := strings.SplitN(s, "\t", 4)
	if len(parts) < 3 {
		return l
	}
	t, err := time.Parse(time.RFC3339Nano, parts[0])
	if err != nil || !looksLikeRequestID(parts[1]) {
		return l
	}
	l.Time, l.RequestID = t.UTC(), parts[1]
	if len(parts) == 4 && isLevel(parts[2]) {
		l.Level, l.Message = parts[2], parts[3]
	} else {
		l.Message = strings.Join(parts[2:], "\t")
	}
	return l
}

func isLevel(s string) bool {
	switch s {
	case "TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL":
		return true
	}
	return false
}

// looksLikeRequestID accepts the UUIDs and 32-hex-digit ids Lambda uses.
func looksLikeRequestID(s string) bool {
	if len(s) != 36 && len(s) != 32 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return false
		}
	}
	return true
}

// telemetry is a Telemetry API record, also the JSON log format's shape.
type telemetry struct {
	Time   string          `json:"time"`
	Type   string          `json:"type"`
	Record json.RawMessage `json:"record"`
}

type record struct {
	RequestID         string `json:"requestId"`
	Version           string `json:"version"`
	RuntimeVersionARN string `json:"runtimeVersionArn"`
	Status            string `json:"status"`
	ErrorType         string `json:"errorType"`
	Level             string `json:"level"`
	Message           any    `json:"message"`
	Metrics           struct {
		DurationMS       float64 `json:"durationMs"`
		BilledDurationMS float64 `json:"billedDurationMs"`
		MemorySizeMB     float64 `json:"memorySizeMB"`
		MaxMemoryUsedMB  float64 `json:"maxMemoryUsedMB"`
		InitDurationMS   float64 `json:"initDurationMs"`
	} `json:"metrics"`
}

// parseJSON reads a {time,type,record} record, or a JSON application log
// line ({"timestamp","level","message","requestId"}).
func parseJSON(s string) (Line, bool) {
	var t telemetry
	if json.Unmarshal([]byte(s), &t) != nil {
		return Line{}, false
	}
	if t.Type == "" || len(t.Record) == 0 {
		// An application's own JSON line.
		var r struct {
			Timestamp string `json:"timestamp"`
			record
		}
		if json.Unmarshal([]byte(s), &r) != nil {
			return Line{}, false
		}
		l := Line{Kind: KindApp, RequestID: r.RequestID, Level: r.Level, Message: text(r.Message, s)}
		l.Time = parseTime(r.Timestamp)
		return l, true
	}
	var r record
	if t.Record[0] == '{' {
		_ = json.Unmarshal(t.Record, &r) // a record of another shape keeps its type
	}
	l := Line{Type: t.Type, Time: parseTime(t.Time), RequestID: r.RequestID, Status: r.Status, ErrorType: r.ErrorType}
	switch t.Type {
	case "platform.initStart":
		l.Kind, l.RuntimeVersionARN = KindInitStart, r.RuntimeVersionARN
	case "platform.start":
		l.Kind, l.Version = KindStart, r.Version
	case "platform.runtimeDone":
		l.Kind = KindEnd
	case "platform.report":
		l.Kind = KindReport
		m := r.Metrics
		l.DurationMS, l.BilledDurationMS, l.MemorySizeMB, l.MaxMemoryUsedMB, l.InitDurationMS =
			m.DurationMS, m.BilledDurationMS, m.MemorySizeMB, m.MaxMemoryUsedMB, m.InitDurationMS
	case "function", "extension":
		l.Kind, l.Level = KindApp, r.Level
		l.Message = text(r.Message, string(t.Record))
	default:
		l.Kind = KindPlatform
		l.Message = string(t.Record)
	}
	return l, true
}

// text renders a message field: strings as they are, other JSON as JSON,
// a missing one as fallback.
func text(v any, fallback string) string {
	switch m := v.(type) {
	case nil:
		return fallback
	case string:
		return m
	default:
		b, _ := json.Marshal(m)
		return string(b)
	}
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}
