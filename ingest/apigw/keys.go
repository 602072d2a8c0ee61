package apigw

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// role is a normalized meaning a record's key can carry.
type role int

const (
	roleRequestID role = iota
	roleTime
	roleTimeEpoch
	roleSrcIP
	roleActor
	roleUserAgent
	roleMethod
	rolePath
	roleStatus
	roleBytesOut
	roleDuration
	roleAccount
	roleRegion
	roleAPIID
	roleStage
	roleDomain
	roleError
	roleErrorType
	roleProtocol
	numRoles
)

// roleNames are the KeyMap names of the roles.
var roleNames = [numRoles]string{
	roleRequestID: "request_id",
	roleTime:      "time",
	roleTimeEpoch: "time_epoch",
	roleSrcIP:     "src_ip",
	roleActor:     "actor",
	roleUserAgent: "user_agent",
	roleMethod:    "method",
	rolePath:      "path",
	roleStatus:    "status_code",
	roleBytesOut:  "bytes_out",
	roleDuration:  "duration_ms",
	roleAccount:   "account",
	roleRegion:    "region",
	roleAPIID:     "api_id",
	roleStage:     "stage",
	roleDomain:    "domain",
	roleError:     "error",
	roleErrorType: "error_type",
	roleProtocol:  "protocol",
}

// defaultKeys are the keys each role is looked up under, in order: the
// AWS console presets (REST, HTTP and WebSocket APIs), the names the
// $context variables have, common camelCase and snake_case variants, and
// dotted paths into the nested objects hand-written formats use
// ({"identity":{"sourceIp":...}}, {"error":{"message":...}}).
var defaultKeys = [numRoles][]string{
	roleRequestID: {"requestId", "request_id", "requestID", "RequestId", "extendedRequestId", "extended_request_id"},
	roleTime:      {"requestTime", "request_time", "time", "timestamp"},
	roleTimeEpoch: {"requestTimeEpoch", "request_time_epoch", "timeEpoch", "time_epoch"},
	roleSrcIP: {"ip", "sourceIp", "source_ip", "sourceIP", "identity.sourceIp", "clientIp", "client_ip",
		"src_ip", "ip_address"},
	// The most specific identity first: an IAM ARN, a Lambda authorizer's
	// principal, a Cognito or JWT user, then the IAM principal ids.
	roleActor: {"userArn", "user_arn", "identity.userArn", "principalId", "principal_id", "authorizer.principalId",
		"authorizerPrincipalId", "username", "cognitoUser", "cognito_user", "cognitoIdentityId",
		"cognito_identity_id", "identity.cognitoIdentityId", "user", "caller", "identity.user", "identity.caller"},
	roleUserAgent: {"userAgent", "user_agent", "identity.userAgent", "ua"},
	// WebSocket APIs have no method; their eventType (CONNECT, MESSAGE,
	// DISCONNECT) is the action.
	roleMethod: {"httpMethod", "http_method", "method", "eventType", "event_type"},
	// The request path first (what was asked for), then the route or
	// resource template it matched.
	rolePath:     {"path", "requestPath", "request_path", "resourcePath", "resource_path", "routeKey", "route_key"},
	roleStatus:   {"status", "statusCode", "status_code", "httpStatus", "http_status"},
	roleBytesOut: {"responseLength", "response_length", "bytes", "bytesOut", "bytes_out"},
	// The whole response latency first, the integration's as a fallback.
	roleDuration: {"responseLatency", "response_latency", "latency", "integrationLatency", "integration_latency",
		"integration.latency"},
	roleAccount: {"accountId", "account_id", "account"},
	roleRegion:  {"region", "awsRegion", "aws_region"},
	roleAPIID:   {"apiId", "api_id"},
	roleStage:   {"stage"},
	roleDomain:  {"domainName", "domain_name", "domain"},
	roleError: {"error.message", "errorMessage", "error_message", "authorizer.error", "authorizerError",
		"authorizer_error", "integrationErrorMessage", "integration_error_message", "integration.error",
		"integrationError", "error"},
	roleErrorType: {"error.responseType", "errorResponseType", "responseType", "response_type", "errorType",
		"error_type"},
	roleProtocol: {"protocol"},
}

// Roles returns the names a Config.KeyMap may map, in a fixed order.
func Roles() []string { return slices.Clone(roleNames[:]) }

// DefaultKeys returns the keys role is looked up under when KeyMap does
// not name it, in order (nil for an unknown role).
func DefaultKeys(role string) []string {
	if i := slices.Index(roleNames[:], role); i >= 0 {
		return slices.Clone(defaultKeys[i])
	}
	return nil
}

// Config says where a JSON or XML access-log record keeps each
// normalized field. API Gateway access logs have no fixed format: the
// stage's format template names the keys.
type Config struct {
	// KeyMap maps a role to the key that holds it, e.g.
	// {"src_ip": "clientIp", "status_code": "httpStatus"}; a dotted key
	// ("identity.sourceIp") is also looked up as a path into nested
	// objects. An entry replaces the default keys of its role (see
	// DefaultKeys); roles without one keep them. The roles are listed by
	// Roles: request_id, time (CLF, RFC 3339 or Unix time), time_epoch
	// (Unix time in s or ms), src_ip, actor, user_agent, method, path,
	// status_code, bytes_out, duration_ms, account, region, api_id,
	// stage, domain, error, error_type and protocol.
	KeyMap map[string]string `yaml:"key_map"`
}

// Validate reports a KeyMap entry for an unknown role or with an empty
// key.
func (c Config) Validate() error {
	var errs []error
	for _, r := range slices.Sorted(maps.Keys(c.KeyMap)) {
		if !slices.Contains(roleNames[:], r) {
			errs = append(errs, fmt.Errorf("apigateway key_map: unknown role %q (known: %s)", r, strings.Join(roleNames[:], ", ")))
		} else if strings.TrimSpace(c.KeyMap[r]) == "" {
			errs = append(errs, fmt.Errorf("apigateway key_map: role %q has an empty key", r))
		}
	}
	return errors.Join(errs...)
}

// fields are the values a record has for each role, "" when absent, and
// the key each came from (for error messages).
type fields struct {
	val [numRoles]string
	key [numRoles]string
	// found is whether any role's key is present, even without a value.
	found bool
	// keyed is whether the record's keys are the user's (JSON, XML), so
	// that key_map can fix a mismatch.
	keyed bool
}

// resolveText fills f from the named values of a text or XML record:
// each role's KeyMap key, else its first default key with a value. "-"
// (API Gateway's empty value) and "" count as no value.
func resolveText(m kvs, keyMap map[string]string, f *fields) {
	var hasOver [numRoles]bool
	for name, k := range keyMap {
		r, ok := roleIndex[name]
		if !ok {
			continue
		}
		hasOver[r] = true
		if v, ok := m.get(k); ok {
			f.set(r, k, v)
		}
	}
	var rank [numRoles]int // rank+1 of the key in f.key[r], 0 for none
	for _, e := range m {
		ref, ok := literalKeys[e.k]
		if !ok || hasOver[ref.role] || rank[ref.role] != 0 && rank[ref.role] <= ref.rank+1 {
			continue
		}
		if f.set(ref.role, ref.key, e.v) {
			rank[ref.role] = ref.rank + 1
		}
	}
}

// set records v as the value of role r from key, unless it is empty or
// "-"; it reports whether it did. Either way a role's key was found.
func (f *fields) set(r role, key, v string) bool {
	f.found = true
	v = strings.TrimSpace(v)
	if v == "" || v == "-" {
		return false
	}
	f.val[r], f.key[r] = v, key
	return true
}
