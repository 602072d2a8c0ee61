package azurelog

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tripline/tripline/internal/event"
)

// props holds the properties of the categories mapped field by field,
// FunctionAppLogs (camelCase) and AppServiceHTTPLogs (IIS W3C names), and
// a few that many other categories share.
// Numbers may be written as JSON numbers or strings.
type props struct {
	// FunctionAppLogs.
	AppName          string `json:"appName"`
	Message          string `json:"message"`
	FunctionName     string `json:"functionName"`
	Level            string `json:"level"`
	LevelID          int    `json:"levelId"`
	EventName        string `json:"eventName"`
	ExceptionType    string `json:"exceptionType"`
	ExceptionMessage string `json:"exceptionMessage"`
	ExceptionDetails string `json:"exceptionDetails"`
	// AppServiceHTTPLogs.
	CIp        string          `json:"CIp"`
	CsMethod   string          `json:"CsMethod"`
	CsURIStem  string          `json:"CsUriStem"`
	CsUsername string          `json:"CsUsername"`
	ScStatus   json.RawMessage `json:"ScStatus"`
	ScBytes    json.RawMessage `json:"ScBytes"`
	TimeTaken  json.RawMessage `json:"TimeTaken"`
	UserAgent  string          `json:"UserAgent"`
	Result     string          `json:"Result"`
	// Other categories.
	HTTPStatusCode    json.RawMessage `json:"httpStatusCode"`
	UserPrincipalName string          `json:"userPrincipalName"`
}

// properties returns the properties object of rec (raw is its value) and
// the record to keep as Raw. A JSON string holding a JSON object is
// unwrapped, and Raw gets the object in its place; anything else that is
// not an object gives no properties and Raw = rec.
func properties(rec []byte, raw json.RawMessage) (obj, out []byte, err error) {
	raw = bytes.TrimSpace(raw)
	if isObject(raw) {
		return raw, rec, nil
	}
	if len(raw) == 0 || raw[0] != '"' {
		return nil, rec, nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return nil, rec, nil
	}
	inner := bytes.TrimSpace([]byte(s))
	if !isObject(inner) || !json.Valid(inner) {
		return nil, rec, nil
	}
	out, err = replaceValue(rec, raw, inner)
	if err != nil {
		return nil, nil, fmt.Errorf("properties: %w", err)
	}
	return inner, out, nil
}

// replaceValue re-encodes the object rec with every "properties" member
// (any case) whose value is old set to repl. Members come out sorted.
func replaceValue(rec []byte, old, repl []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(rec, &m); err != nil {
		return nil, err
	}
	for k, v := range m {
		if strings.EqualFold(k, "properties") && bytes.Equal(bytes.TrimSpace(v), old) {
			m[k] = repl
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// functionAppLog maps FunctionAppLogs properties (see Decoder for the
// choices).
func functionAppLog(p *props, ev *event.Event) {
	ev.Service = cmp.Or(p.AppName, ev.Service)
	ev.Target = p.FunctionName
	ev.Action = cmp.Or(p.EventName, ev.Action)
	ev.Message = cmp.Or(p.Message, p.ExceptionMessage, ev.Message)
	ev.ErrorCode = p.ExceptionType
	result, ms := executed(p.Message)
	if ms > 0 {
		ev.DurationMS = ms
	}
	switch {
	case isErrorLevel(p.Level) || p.LevelID >= 4 || p.ExceptionType != "" || p.ExceptionMessage != "" || p.ExceptionDetails != "":
		ev.Outcome = event.OutcomeFailure
	case result != "" && ev.Outcome != event.OutcomeFailure:
		ev.Outcome = result
	}
}

// executed reads the host's completion message, "Executed 'Functions.f'
// (Succeeded, Id=<id>, Duration=25ms)" (quotes vary by host version), for
// its outcome and duration in milliseconds.
func executed(msg string) (outcome string, ms float64) {
	rest, ok := strings.CutPrefix(msg, "Executed ")
	if !ok {
		return "", 0
	}
	_, paren, ok := strings.Cut(rest, " (")
	if !ok {
		return "", 0
	}
	switch {
	case strings.HasPrefix(paren, "Succeeded"):
		outcome = event.OutcomeSuccess
	case strings.HasPrefix(paren, "Failed"):
		outcome = event.OutcomeFailure
	}
	if _, d, ok := strings.Cut(paren, "Duration="); ok {
		if n, _, ok := strings.Cut(d, "ms"); ok {
			ms = nonNegative(n)
		}
	}
	return outcome, ms
}

// httpLog maps AppServiceHTTPLogs properties. "-" means absent in IIS
// logs. The user agent is W3C-encoded (spaces written as '+'); one
// without spaces is decoded, so it compares with other sources' agents.
func httpLog(p *props, ev *event.Event) {
	ev.SrcIP = hostIP(dash(p.CIp))
	ev.Action = dash(p.CsMethod)
	ev.Target = dash(p.CsURIStem)
	ev.Actor = cmp.Or(dash(p.CsUsername), ev.Actor)
	if ua := dash(p.UserAgent); !strings.Contains(ua, " ") {
		ev.UserAgent = strings.ReplaceAll(ua, "+", " ")
	} else {
		ev.UserAgent = ua
	}
	if st := number(p.ScStatus); st >= 100 && st <= 999 {
		ev.StatusCode = int(st)
	}
	if n := number(p.ScBytes); n < 1<<62 {
		ev.BytesOut = int64(n)
	}
	ev.DurationMS = number(p.TimeTaken)
	switch {
	case ev.StatusCode != 0:
		ev.Outcome = statusOutcome(ev.StatusCode)
	case resultOutcome(p.Result) != "":
		ev.Outcome = resultOutcome(p.Result)
	}
}

func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

func isObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// unmarshal decodes JSON leniently (see record): only invalid JSON is an
// error.
func unmarshal(b []byte, v any) error {
	err := json.Unmarshal(b, v)
	var te *json.UnmarshalTypeError
	if err == nil || errors.As(err, &te) {
		return nil
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	return err
}
