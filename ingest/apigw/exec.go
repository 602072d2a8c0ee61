package apigw

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tripline/tripline/internal/event"
)

const execPrefix = "API-Gateway-Execution-Logs"

// ExecutionLogGroup reads the API id and stage of an execution log group,
// API-Gateway-Execution-Logs_<apiId>/<stage> (also with "/" after the
// prefix, as some AWS pages write it).
func ExecutionLogGroup(name string) (apiID, stage string, ok bool) {
	if len(name) <= len(execPrefix) || !strings.EqualFold(name[:len(execPrefix)], execPrefix) {
		return "", "", false
	}
	if c := name[len(execPrefix)]; c != '_' && c != '/' {
		return "", "", false
	}
	apiID, stage, ok = strings.Cut(name[len(execPrefix)+1:], "/")
	if !ok || apiID == "" || stage == "" {
		return "", "", false
	}
	return apiID, stage, true
}

// IsExecutionLogGroup reports whether name is an API Gateway execution log
// group, API-Gateway-Execution-Logs_<apiId>/<stage>.
func IsExecutionLogGroup(name string) bool {
	_, _, ok := ExecutionLogGroup(name)
	return ok
}

// IsAccessLogGroup guesses from its name whether a log group holds API
// Gateway access logs, whose group the API owner names: a name that
// contains "apigateway", "api-gateway", "api_gateway" or "apigw" (any
// case) and is not an execution log group.
func IsAccessLogGroup(name string) bool {
	if IsExecutionLogGroup(name) {
		return false
	}
	lower := strings.ToLower(name)
	for _, s := range [...]string{"apigateway", "api-gateway", "api_gateway", "apigw"} {
		if strings.Contains(lower, s) {
			return true
		}
	}
	return false
}

// execContext is where an execution-log line came from.
type execContext struct {
	group, api, stage string
	ts                time.Time
}

// maxRequestIDLen bounds the "(<requestId>)" prefix of execution lines.
const maxRequestIDLen = 128

// cutRequestID splits "(<requestId>) <message>".
func cutRequestID(line string) (id, msg string, ok bool) {
	if !strings.HasPrefix(line, "(") {
		return "", line, false
	}
	end := strings.IndexByte(line, ')')
	if end < 0 || end > maxRequestIDLen+1 || strings.ContainsAny(line[1:end], " \t") {
		return "", line, false
	}
	return line[1:end], strings.TrimSpace(line[end+1:]), true
}

// execFailures are messages of execution lines that tell a request
// failed, with the error code they get.
var execFailures = []struct{ prefix, code string }{
	{"Unauthorized request", "Unauthorized"},
	{"Execution failed", "ExecutionFailed"},
	{"Lambda execution failed", "LambdaExecutionFailed"},
	{"Lambda invocation failed", "LambdaInvocationFailed"},
	{"Usage Plan check failed", "UsagePlanCheckFailed"},
	{"Forbidden", "Forbidden"},
	{"Authorizer error", "AuthorizerError"},
}

// decodeExecution decodes an execution-log line. Its Raw holds
// request_id, message, line and, from the log group, log_group, api_id
// and stage. It reads the method and path of "HTTP Method: GET, Resource
// Path: /pets", the status of "Method completed with status: 200", and a
// failure from the messages in execFailures.
func (d Decoder) decodeExecution(line string, c execContext, ev *event.Event) error {
	if line == "" {
		return errors.New("apigateway execution line: empty")
	}
	id, msg, _ := cutRequestID(line)
	raw, err := json.Marshal(struct {
		RequestID string `json:"request_id,omitempty"`
		Message   string `json:"message"`
		LogGroup  string `json:"log_group,omitempty"`
		APIID     string `json:"api_id,omitempty"`
		Stage     string `json:"stage,omitempty"`
		Line      string `json:"line"`
	}{id, msg, c.group, c.api, c.stage, line})
	if err != nil {
		return fmt.Errorf("apigateway execution line: %w", err)
	}
	t, err := d.recordTime(&fields{}, c.ts)
	if err != nil {
		return fmt.Errorf("apigateway execution line: %w", err)
	}
	*ev = event.Event{
		Time: t, Source: Source, Service: service(c.api, c.stage, ""), Message: msg, Raw: raw,
		EventID: event.ContentID(Source, append(raw, t.Format(time.RFC3339Nano)...)),
	}
	if rest, ok := strings.CutPrefix(msg, "HTTP Method: "); ok {
		method, path, _ := strings.Cut(rest, ", Resource Path: ")
		ev.Action, ev.Target = strings.TrimSpace(method), strings.TrimSpace(path)
	}
	if rest, ok := strings.CutPrefix(msg, "Method completed with status: "); ok {
		if n, err := strconv.Atoi(strings.TrimSpace(rest)); err == nil && n > 0 && n <= 999 {
			ev.StatusCode = n
			ev.Outcome = event.OutcomeSuccess
			if n >= 400 {
				ev.Outcome = event.OutcomeFailure
			}
		}
	}
	for _, f := range execFailures {
		if strings.HasPrefix(msg, f.prefix) {
			ev.Outcome, ev.ErrorCode = event.OutcomeFailure, f.code
			break
		}
	}
	return nil
}
