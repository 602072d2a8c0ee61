package detect

import (
	"sort"
	"strconv"
	"time"

	"github.com/tripline/tripline/internal/event"
)

// kind is the declared type of a typed field in a rule's environment.
type kind uint8

const (
	kindString kind = iota + 1
	kindBool
	kindMap
	kindList
	kindInt
	kindInt64
	kindFloat
	kindTime
)

// schema declares the top-level fields of a source's records and their
// types, so that rules are type-checked and a misspelled field fails at
// load.
type schema struct {
	fields map[string]kind
}

// cloudTrailSchema lists the top-level fields of a CloudTrail record
// (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html).
var cloudTrailSchema = &schema{fields: map[string]kind{
	"eventVersion":                 kindString,
	"eventTime":                    kindString,
	"eventSource":                  kindString,
	"eventName":                    kindString,
	"awsRegion":                    kindString,
	"sourceIPAddress":              kindString,
	"userAgent":                    kindString,
	"errorCode":                    kindString,
	"errorMessage":                 kindString,
	"requestParameters":            kindMap,
	"responseElements":             kindMap,
	"additionalEventData":          kindMap,
	"userIdentity":                 kindMap,
	"resources":                    kindList,
	"readOnly":                     kindBool,
	"eventType":                    kindString,
	"managementEvent":              kindBool,
	"eventCategory":                kindString,
	"recipientAccountId":           kindString,
	"requestID":                    kindString,
	"eventID":                      kindString,
	"tlsDetails":                   kindMap,
	"sessionCredentialFromConsole": kindString,
	"serviceEventDetails":          kindMap,
	"sharedEventID":                kindString,
	"vpcEndpointId":                kindString,
	"vpcEndpointAccountId":         kindString,
	"apiVersion":                   kindString,
	"insightDetails":               kindMap,
	"addendum":                     kindMap,
	"edgeDeviceDetails":            kindMap,
}}

// k8sAuditSchema lists the top-level fields of a Kubernetes audit event
// (audit.k8s.io/v1 Event,
// https://kubernetes.io/docs/reference/config-api/apiserver-audit.v1/#audit-k8s-io-v1-Event).
// requestObject and responseObject are maps: a patch body, a JSON-patch
// array, reads as nil there.
var k8sAuditSchema = &schema{fields: map[string]kind{
	"kind":                     kindString,
	"apiVersion":               kindString,
	"level":                    kindString,
	"auditID":                  kindString,
	"stage":                    kindString,
	"requestURI":               kindString,
	"verb":                     kindString,
	"user":                     kindMap,
	"impersonatedUser":         kindMap,
	"sourceIPs":                kindList,
	"userAgent":                kindString,
	"objectRef":                kindMap,
	"responseStatus":           kindMap,
	"requestObject":            kindMap,
	"responseObject":           kindMap,
	"requestReceivedTimestamp": kindString,
	"stageTimestamp":           kindString,
	"annotations":              kindMap,
}}

// sources maps every source name a rule may name to its schema; nil means
// the source has no schema and rules may use any field name.
var sources = map[string]*schema{
	"apigateway": nil,
	"azure":      nil,
	"cloudtrail": cloudTrailSchema,
	"container":  nil,
	"envoy":      nil,
	"gcp":        nil,
	"json":       nil,
	"k8s-audit":  k8sAuditSchema,
	"lambda":     nil,
	"otlp":       nil,
	"syslog":     nil,
}

// SourceHasSchema reports whether the source declares its fields, so that
// a rule naming a field it lacks fails to load.
func SourceHasSchema(name string) bool {
	return sources[name] != nil
}

// SourceNames returns the source names rules may use, sorted.
func SourceNames() []string {
	names := make([]string, 0, len(sources))
	for n := range sources {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// normField is one normalized field of event.Event under its snake_case
// name.
type normField struct {
	name string
	kind kind
	get  func(*event.Event) any
}

// normFields are the normalized fields every rule (and hunt expression)
// sees, in the order of event.Event's fields. It is the one list of them:
// declaration, addNormalized and the engine's field index all read it.
var normFields = []normField{
	{"time", kindTime, func(e *event.Event) any { return e.Time }},
	{"source", kindString, func(e *event.Event) any { return e.Source }},
	{"event_id", kindString, func(e *event.Event) any { return e.EventID }},
	{"account", kindString, func(e *event.Event) any { return e.Account }},
	{"region", kindString, func(e *event.Event) any { return e.Region }},
	{"service", kindString, func(e *event.Event) any { return e.Service }},
	{"actor", kindString, func(e *event.Event) any { return e.Actor }},
	{"src_ip", kindString, func(e *event.Event) any { return e.SrcIP }},
	{"user_agent", kindString, func(e *event.Event) any { return e.UserAgent }},
	{"action", kindString, func(e *event.Event) any { return e.Action }},
	{"target", kindString, func(e *event.Event) any { return e.Target }},
	{"outcome", kindString, func(e *event.Event) any { return e.Outcome }},
	{"status_code", kindInt, func(e *event.Event) any { return e.StatusCode }},
	{"error_code", kindString, func(e *event.Event) any { return e.ErrorCode }},
	{"bytes_out", kindInt64, func(e *event.Event) any { return e.BytesOut }},
	{"duration_ms", kindFloat, func(e *event.Event) any { return e.DurationMS }},
	{"message", kindString, func(e *event.Event) any { return e.Message }},
}

var normIndex = func() map[string]int {
	m := make(map[string]int, len(normFields))
	for i, f := range normFields {
		m[f.name] = i
	}
	return m
}()

// zero returns a value of k's Go type, used to declare a typed variable.
func (k kind) zero() any {
	switch k {
	case kindString:
		return ""
	case kindBool:
		return false
	case kindMap:
		return map[string]any{}
	case kindList:
		return []any{}
	case kindInt:
		return 0
	case kindInt64:
		return int64(0)
	case kindFloat:
		return float64(0)
	case kindTime:
		return time.Time{}
	}
	return nil
}

// has reports whether v has k's Go type.
func (k kind) has(v any) bool {
	switch k {
	case kindString:
		_, ok := v.(string)
		return ok
	case kindBool:
		_, ok := v.(bool)
		return ok
	case kindMap:
		_, ok := v.(map[string]any)
		return ok
	case kindList:
		_, ok := v.([]any)
		return ok
	case kindInt:
		_, ok := v.(int)
		return ok
	case kindInt64:
		_, ok := v.(int64)
		return ok
	case kindFloat:
		_, ok := v.(float64)
		return ok
	case kindTime:
		_, ok := v.(time.Time)
		return ok
	}
	return false
}

// declaration returns the typed environment the checker sees for a
// source: the schema's fields and the normalized fields. A schema field
// wins over a normalized field of the same name.
func declaration(sc *schema) map[string]any {
	env := make(map[string]any, len(normFields)+32)
	for _, f := range normFields {
		env[f.name] = f.kind.zero()
	}
	if sc != nil {
		for name, k := range sc.fields {
			env[name] = k.zero()
		}
	}
	return env
}

// coerce makes the record's schema fields named in names hold their
// declared types, so that typed operations never meet a value of another
// type:
//   - string fields: a string stays, a bool becomes "true" or "false",
//     anything else (missing, null, number, object) becomes "";
//   - bool fields: a bool stays, the string "true" becomes true, anything
//     else becomes false;
//   - map and list fields: a value of another type becomes nil (missing
//     stays missing, which reads as nil).
func (sc *schema) coerce(env map[string]any, names []string) {
	for _, name := range names {
		coerceField(env, name, sc.fields[name])
	}
}

// coerceField makes env[name] hold a value of kind k, as coerce does.
func coerceField(env map[string]any, name string, k kind) {
	v, ok := env[name]
	switch k {
	case kindString:
		switch x := v.(type) {
		case string:
		case bool:
			env[name] = strconv.FormatBool(x)
		default:
			env[name] = ""
		}
	case kindBool:
		switch x := v.(type) {
		case bool:
		case string:
			env[name] = x == "true"
		default:
			env[name] = false
		}
	case kindMap, kindList:
		if ok && v != nil && !k.has(v) {
			env[name] = nil
		}
	}
}

// addNormalized sets the normalized fields listed in idx (indexes into
// normFields). A record field of the same name wins, but only when it has
// the normalized field's type; otherwise the normalized value replaces it,
// so that the declared types always hold.
func addNormalized(env map[string]any, ev *event.Event, idx []int) {
	for _, i := range idx {
		addNormalizedField(env, ev, i)
	}
}

// addNormalizedField sets normalized field i, as addNormalized does.
func addNormalizedField(env map[string]any, ev *event.Event, i int) {
	f := &normFields[i]
	if v, ok := env[f.name]; ok && f.kind.has(v) {
		return
	}
	env[f.name] = f.get(ev)
}
