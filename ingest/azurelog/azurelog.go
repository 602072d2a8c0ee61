// Package azurelog decodes Azure resource log records: the elements of the
// {"records":[...]} batches that diagnostic settings stream to Event Hubs
// or a storage account. Package ingest opens that envelope; Decode gets one
// record.
//
// Every record has the common resource log schema (time, resourceId,
// category, operationName, level, location, resultType, callerIpAddress,
// identity, durationMs, properties); the category decides what properties
// holds. FunctionAppLogs (Azure Functions host and function logs) and
// AppServiceHTTPLogs (App Service and Functions front-end access logs)
// are mapped field by field, any other category from the common fields.
//
// properties may be a JSON object or, as some categories write it, a
// string holding JSON. In the second case the event's Raw is the record
// with properties replaced by the object it holds (so rules address
// properties.appName either way); a string that is not a JSON object (the
// Functions host has been seen writing single-quoted pseudo-JSON) stays a
// string and only the common fields are mapped.
//
// Records have no id of their own: the event id is the content hash of
// the record (event.ContentID), and Decoder implements ContentIDs.
package azurelog

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tripline/tripline/internal/event"
)

// Source is the source name of the events.
const Source = "azure"

// record holds the common resource log fields the normalized event needs;
// the whole record stays in Event.Raw.
//
// Decoding is lenient: a field of another JSON type than declared here is
// left empty (encoding/json skips it and reports an *json.UnmarshalTypeError,
// which Decode ignores). Field names match case-insensitively, as Azure
// writes some of them capitalized (Level, ResultType) in some categories.
type record struct {
	Time              json.RawMessage `json:"time"`
	ResourceID        string          `json:"resourceId"`
	TenantID          string          `json:"tenantId"`
	Category          string          `json:"category"`
	OperationName     string          `json:"operationName"`
	ResultType        string          `json:"resultType"`
	ResultSignature   json.RawMessage `json:"resultSignature"`
	ResultDescription string          `json:"resultDescription"`
	DurationMs        json.RawMessage `json:"durationMs"`
	CallerIPAddress   string          `json:"callerIpAddress"`
	Level             string          `json:"level"`
	Location          string          `json:"location"`
	// Identity holds the caller's token claims: identity.claims in most
	// categories, identity.claim in Key Vault's AuditEvent.
	Identity struct {
		Claims map[string]json.RawMessage `json:"claims"`
		Claim  map[string]json.RawMessage `json:"claim"`
	} `json:"identity"`
	Properties json.RawMessage `json:"properties"`
	// Records is the envelope's member, set when Decode is given a whole
	// {"records":[...]} batch by mistake.
	Records json.RawMessage `json:"records"`
}

// Decoder decodes Azure resource log records. The zero value is ready to
// use.
//
// The normalized fields (docs/sources.md has the table), for every
// category:
//   - account: the subscription id of resourceId, lower case, else
//     tenantId (Entra ID logs have no subscription);
//   - region: location as a region name ("East US" becomes "eastus");
//   - service: the name of the top-level resource in resourceId, lower
//     case (the function app, web app, key vault);
//   - actor: identity.claims (identity.claim for Key Vault) upn, else
//     unique_name, appid, objectidentifier or oid;
//   - src_ip: callerIpAddress without a port; action: operationName;
//     target: resourceId; duration_ms: durationMs; message:
//     resultDescription;
//   - outcome: from resultType (Success, Failed; an Entra ID error number,
//     "0" for success, is also the error_code), a numeric resultSignature
//     (the HTTP status_code), and failure for level Error or Critical;
//     error_code is a failure's non-numeric resultSignature.
//
// FunctionAppLogs: service is properties.appName (the function app, as
// Lambda's service is the function: one app hosts several functions);
// target is properties.functionName ("Functions.hello"), empty for host
// logs; action is properties.eventName (FunctionStarted,
// FunctionCompleted), else operationName (always
// Microsoft.Web/sites/functions/log, so less telling); message is
// properties.message, else exceptionMessage; error_code is exceptionType;
// outcome is failure for level Error or Critical (levelId 4 or 5) or when
// an exception is present, success for the host's "Executed '...'
// (Succeeded, ...)" message, whose Duration=...ms gives duration_ms.
//
// AppServiceHTTPLogs: src_ip CIp, action CsMethod, target CsUriStem,
// status_code ScStatus, bytes_out ScBytes, duration_ms TimeTaken,
// user_agent UserAgent (see httpLog), actor CsUsername; outcome from the
// status, else Result; "-" is empty.
//
// Other categories: status_code also from properties.httpStatusCode (400
// and up is a failure whatever resultType says), actor also from
// properties.userPrincipalName, message also from properties.message.
type Decoder struct{}

// ContentIDs implements ingest.ContentIDs: resource log records have no
// id, so identical records in one request are distinct events.
func (Decoder) ContentIDs() bool { return true }

// Decode implements ingest.Decoder.
func (Decoder) Decode(rec []byte, ev *event.Event) error {
	if !isObject(rec) {
		return errors.New("azure record: not a JSON object")
	}
	var r record
	if err := unmarshal(rec, &r); err != nil {
		return fmt.Errorf("azure record: %w", err)
	}
	if r.ResourceID == "" && r.Category == "" && r.Records != nil {
		return errors.New(`azure record: got a {"records":[...]} envelope, not one of its records`)
	}
	if r.ResourceID == "" && r.Category == "" {
		return errors.New("azure record: resourceId or category is required, as a string (not an Azure resource log record?)")
	}
	t, err := recordTime(r.Time)
	if err != nil {
		return fmt.Errorf("azure record %s: %w", r.name(), err)
	}
	sub, name := parseResourceID(r.ResourceID)
	*ev = event.Event{
		Time:       t,
		Source:     Source,
		EventID:    event.ContentID(Source, rec),
		Account:    cmp.Or(sub, strings.ToLower(r.TenantID)),
		Region:     region(r.Location),
		Service:    name,
		Actor:      cmp.Or(actor(r.Identity.Claims), actor(r.Identity.Claim)),
		SrcIP:      hostIP(r.CallerIPAddress),
		Action:     r.OperationName,
		Target:     r.ResourceID,
		Outcome:    resultOutcome(r.ResultType),
		DurationMS: number(r.DurationMs),
		Message:    r.ResultDescription,
		Raw:        rec,
	}
	result(&r, ev)

	obj, raw, err := properties(rec, r.Properties)
	if err != nil {
		return fmt.Errorf("azure record %s: %w", r.name(), err)
	}
	ev.Raw = raw
	var p props
	if obj != nil {
		if err := unmarshal(obj, &p); err != nil {
			return fmt.Errorf("azure record %s: properties: %w", r.name(), err)
		}
	}
	switch {
	case obj != nil && strings.EqualFold(r.Category, "FunctionAppLogs"):
		functionAppLog(&p, ev)
	case obj != nil && strings.EqualFold(r.Category, "AppServiceHTTPLogs"):
		httpLog(&p, ev)
	default:
		generic(&r, &p, ev)
	}
	return nil
}

// result sets the outcome, status and error code from the common fields:
// resultType ("Success", "Failed"; Entra ID writes an error number, "0"
// for success), resultSignature (an HTTP status, or an error name that is
// the error code of a failure) and level (Error and Critical are
// failures).
func result(r *record, ev *event.Event) {
	ev.Outcome = resultOutcome(r.ResultType)
	if code, err := strconv.Atoi(r.ResultType); err == nil {
		ev.Outcome = event.OutcomeSuccess
		if code != 0 {
			ev.Outcome = event.OutcomeFailure
			ev.ErrorCode = r.ResultType
		}
	}
	sig := jsonString(r.ResultSignature)
	if code, err := strconv.Atoi(sig); err == nil && code >= 100 && code <= 999 {
		ev.StatusCode = code
		if ev.Outcome == "" || code >= 400 {
			ev.Outcome = statusOutcome(code)
		}
	} else if ev.Outcome == event.OutcomeFailure && ev.ErrorCode == "" && !strings.EqualFold(sig, "None") {
		ev.ErrorCode = sig
	}
	if isErrorLevel(r.Level) {
		ev.Outcome = event.OutcomeFailure
	}
}

// generic completes the event of a category without a mapping of its
// own from the properties most categories share: an HTTP status
// (httpStatusCode, as in Key Vault's AuditEvent; 400 and up is a failure
// whatever resultType says), the user (userPrincipalName, as in Entra ID
// logs) and a message.
func generic(r *record, p *props, ev *event.Event) {
	if st := number(p.HTTPStatusCode); ev.StatusCode == 0 && st >= 100 && st <= 999 {
		ev.StatusCode = int(st)
		if ev.Outcome == "" || st >= 400 {
			ev.Outcome = statusOutcome(ev.StatusCode)
		}
	}
	if ev.Outcome == event.OutcomeFailure && ev.ErrorCode == "" {
		if sig := jsonString(r.ResultSignature); sig != "" && !strings.EqualFold(sig, "None") {
			if _, err := strconv.Atoi(sig); err != nil {
				ev.ErrorCode = sig
			}
		}
	}
	ev.Actor = cmp.Or(ev.Actor, p.UserPrincipalName)
	ev.Message = cmp.Or(ev.Message, p.Message)
}

// name names the record in errors.
func (r *record) name() string {
	s := cmp.Or(r.Category, "record")
	if r.ResourceID != "" {
		s += " of " + truncate(r.ResourceID, 160)
	}
	return strconv.Quote(s)
}

// recordTime parses time: RFC 3339, or without a zone (read as UTC) as
// some categories write it.
func recordTime(raw json.RawMessage) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, errors.New("time is required, as an RFC 3339 string")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, fmt.Errorf("time must be an RFC 3339 string, not %s", truncate(string(raw), 40))
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		var err2 error
		if t, err2 = time.Parse("2006-01-02T15:04:05.999999999", s); err2 != nil {
			return time.Time{}, fmt.Errorf("time %q: %w", truncate(s, 64), err)
		}
	}
	if t.Before(minTime) || !t.Before(maxTime) {
		return time.Time{}, fmt.Errorf("time %s is out of range (1970–2105)", s)
	}
	return t.UTC(), nil
}

// Event times must fit the event bus and ClickHouse's DateTime: [minTime,
// maxTime), as package ingest checks.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)
)

// parseResourceID returns the subscription id (lower case) and the name of
// the top-level resource (lower case) of
// /SUBSCRIPTIONS/<id>/RESOURCEGROUPS/<rg>/PROVIDERS/<ns>/<type>/<name>[/...].
// Azure upper-cases resource ids in resource logs; names and GUIDs are
// case-insensitive, and lower case matches how they are usually written.
func parseResourceID(id string) (sub, name string) {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	for i := 0; i+1 < len(parts); i++ {
		switch {
		case strings.EqualFold(parts[i], "subscriptions") && sub == "":
			sub = strings.ToLower(parts[i+1])
		case strings.EqualFold(parts[i], "providers") && i+3 < len(parts):
			return sub, strings.ToLower(parts[i+3])
		}
	}
	return sub, ""
}

// region turns a location's display name ("East US") into the region
// name ("eastus").
func region(loc string) string {
	return strings.ToLower(strings.ReplaceAll(loc, " ", ""))
}

// actor is the identity's user principal name, else its application id,
// else its object id. Claim keys may be short ("upn") or URIs
// (".../claims/upn").
func actor(claims map[string]json.RawMessage) string {
	if len(claims) == 0 {
		return ""
	}
	for _, want := range [...]string{"upn", "unique_name", "appid", "objectidentifier", "oid"} {
		if s := jsonString(claims[want]); s != "" {
			return s
		}
		// Of several URI keys ending in /want, the smallest, so that the
		// choice does not depend on map order.
		best, found := "", false
		for k, v := range claims {
			if s := jsonString(v); s != "" && strings.HasSuffix(k, "/"+want) && (!found || k < best) {
				best, found = k, true
			}
		}
		if found {
			return jsonString(claims[best])
		}
	}
	return ""
}

// hostIP strips a port from an address ("1.2.3.4:5678", "[::1]:80").
func hostIP(s string) string {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().String()
	}
	return s
}

// resultOutcome maps resultType; "Start", "Accept" and the like are not
// outcomes.
func resultOutcome(s string) string {
	switch strings.ToLower(s) {
	case "success", "succeeded", "succeed", "ok":
		return event.OutcomeSuccess
	case "failure", "failed", "fail", "error", "fault":
		return event.OutcomeFailure
	}
	return ""
}

func statusOutcome(code int) string {
	if code >= 400 {
		return event.OutcomeFailure
	}
	return event.OutcomeSuccess
}

// isErrorLevel reports an Error or Critical level (resource log levels are
// Informational, Warning, Error, Critical; .NET's are Information, ...).
func isErrorLevel(s string) bool {
	return strings.EqualFold(s, "Error") || strings.EqualFold(s, "Critical")
}

// jsonString reads a JSON string or number as text; anything else is "".
func jsonString(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return s
	}
	if raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9') {
		return string(raw)
	}
	return ""
}

// number reads a non-negative number written as a JSON number or string;
// anything else is 0.
func number(raw json.RawMessage) float64 { return nonNegative(jsonString(raw)) }

// nonNegative parses a finite non-negative decimal number; anything else
// is 0.
func nonNegative(s string) float64 {
	if s == "" {
		return 0
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 || f != f || f > 1e300 {
		return 0
	}
	return f
}

// truncate shortens s to about n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
