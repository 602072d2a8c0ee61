package sigma

import (
	"fmt"
	"regexp"
	"strings"
)

// fieldType is what a field holds at run time, which decides how it is
// compared.
type fieldType uint8

const (
	// typeAny is an undeclared value (a member of a decoded object, a
	// field of a source without a schema): a string, number, bool,
	// object, list or nil. It is compared as text, string(f ?? "").
	typeAny fieldType = iota
	// typeString is a declared string field: never nil, "" when missing.
	typeString
	// typeNullString is a member known to hold a string, or nil when
	// missing (objectRef.resource, userIdentity.type).
	typeNullString
	// typeInt is a declared integer field (status_code): 0 when missing.
	typeInt
	// typeNullNumber is a member known to hold a number, or nil
	// (responseStatus.code).
	typeNullNumber
	// typeBool is a declared bool field: false when missing.
	typeBool
	// typeMap and typeList are declared objects and lists.
	typeMap
	typeList
)

// caseStyle says how a string comparison treats letter case. Sigma
// matches strings case-insensitively; a field whose values come in one
// case is compared exactly when the literal is in that case, which is
// equivalent and keeps the comparison a prefilter (see comparer.folds).
type caseStyle uint8

const (
	// caseFold compares lower(field) with the lower-cased value.
	caseFold caseStyle = iota
	// caseExact marks PascalCase identifiers the producer writes in one
	// fixed case (eventName "ConsoleLogin", stage "ResponseComplete"):
	// plain equality with a value starting with an upper-case letter is
	// compared as written; anything else is folded.
	caseExact
	// caseLower marks fields whose values are always lower-case
	// (eventSource, verb, objectRef.resource): a lower-case value is
	// compared as written; anything else is folded.
	caseLower
)

// field is a Sigma field name resolved for a Tripline source.
type field struct {
	sigma string
	// path is the expression that reads the value; with list set, it is
	// relative to a list element (#).
	path string
	typ  fieldType
	cs   caseStyle
	// list, when set, is a list expression: the Sigma field matches when
	// any element's path matches.
	list string
	// existsOnly marks a derived field that only supports "is present"
	// ('*', |exists), not value comparisons.
	existsOnly bool
}

// target is where a Sigma logsource's rules run: Tripline sources and
// how Sigma field names map onto their records.
type target struct {
	name    string // for messages: "AWS CloudTrail"
	sources []string
	// resolve maps a Sigma field name to a field, with an optional
	// warning, or fails.
	resolve func(name string) (*field, string, error)
	// keywords, when set, is the text a Sigma keyword search looks in,
	// with a warning; nil refuses keyword searches.
	keywords func() (string, string)
	summary  string
}

// resolveLogsource maps a Sigma logsource to a target.
func resolveLogsource(ls Logsource) (*target, error) {
	p, s, c := strings.ToLower(ls.Product), strings.ToLower(ls.Service), strings.ToLower(ls.Category)
	switch {
	case p == "aws" && s == "cloudtrail":
		return cloudtrailTarget, nil
	case (p == "kubernetes" && (s == "audit" || s == "")) || p == "k8s":
		return k8sTarget, nil
	case c == "webserver":
		return webTarget, nil
	case p == "gcp" && s == "gcp.audit":
		return gcpTarget, nil
	case p == "azure" && s == "activitylogs":
		return azureTarget, nil
	}
	return nil, fmt.Errorf("logsource %s has no Tripline source (supported: aws/cloudtrail, kubernetes/audit, category webserver, gcp/gcp.audit, azure/activitylogs)", ls)
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// exprKeywords cannot be the first segment of a field path.
var exprKeywords = map[string]bool{
	"and": true, "or": true, "not": true, "in": true, "matches": true, "contains": true,
	"startsWith": true, "endsWith": true, "let": true, "nil": true, "true": true, "false": true,
	"if": true, "else": true,
}

// pathExpr turns a dotted Sigma field name into an expr member access
// (a.b["c-d"]); the first segment must be an identifier.
func pathExpr(name string) (string, error) {
	segs := strings.Split(name, ".")
	if !identRE.MatchString(segs[0]) || exprKeywords[segs[0]] {
		return "", fmt.Errorf("field %q: %q cannot be read as a field name", name, segs[0])
	}
	var b strings.Builder
	b.WriteString(segs[0])
	for _, s := range segs[1:] {
		switch {
		case s == "":
			return "", fmt.Errorf("field %q: empty path segment", name)
		case identRE.MatchString(s):
			b.WriteString("." + s)
		default:
			b.WriteString("[" + quote(s) + "]")
		}
	}
	return b.String(), nil
}

// recordField resolves a field of a record with a declared top-level
// schema: the first segment must be declared, and the field's type and
// case style come from top (declared fields) and nested (known members).
func recordField(src, name string, top map[string]fieldType, nested map[string]fieldType, cs map[string]caseStyle) (*field, error) {
	p, err := pathExpr(name)
	if err != nil {
		return nil, err
	}
	first, rest, _ := strings.Cut(name, ".")
	t, ok := top[first]
	if !ok {
		return nil, fmt.Errorf("field %q does not exist in %s records", name, src)
	}
	f := &field{sigma: name, path: p, typ: t, cs: cs[name]}
	if t == typeList {
		// A list matches when an element does: sourceIPs, resources.ARN.
		f.list, f.path, f.typ = first, "#"+strings.TrimPrefix(p, first), typeAny
		return f, nil
	}
	if rest != "" {
		if t != typeMap {
			return nil, fmt.Errorf("field %q: %s is not an object in %s records", name, first, src)
		}
		f.typ = nested[name] // typeAny unless known
	}
	return f, nil
}

// Every CloudTrail record field (detect's CloudTrail schema) and its type.
var cloudtrailTop = map[string]fieldType{
	"eventVersion": typeString, "eventTime": typeString, "eventSource": typeString, "eventName": typeString,
	"awsRegion": typeString, "sourceIPAddress": typeString, "userAgent": typeString, "errorCode": typeString,
	"errorMessage": typeString, "requestParameters": typeMap, "responseElements": typeMap,
	"additionalEventData": typeMap, "userIdentity": typeMap, "resources": typeList, "readOnly": typeBool,
	"eventType": typeString, "managementEvent": typeBool, "eventCategory": typeString,
	"recipientAccountId": typeString, "requestID": typeString, "eventID": typeString, "tlsDetails": typeMap,
	"sessionCredentialFromConsole": typeString, "serviceEventDetails": typeMap, "sharedEventID": typeString,
	"vpcEndpointId": typeString, "vpcEndpointAccountId": typeString, "apiVersion": typeString,
	"insightDetails": typeMap, "addendum": typeMap, "edgeDeviceDetails": typeMap,
}

var cloudtrailNested = map[string]fieldType{
	"userIdentity.type": typeNullString, "userIdentity.arn": typeNullString,
	"userIdentity.principalId": typeNullString, "userIdentity.accountId": typeNullString,
	"userIdentity.accessKeyId": typeNullString, "userIdentity.userName": typeNullString,
	"userIdentity.invokedBy":                             typeNullString,
	"userIdentity.sessionContext.sessionIssuer.type":     typeNullString,
	"userIdentity.sessionContext.sessionIssuer.arn":      typeNullString,
	"userIdentity.sessionContext.sessionIssuer.userName": typeNullString,
}

var cloudtrailCase = map[string]caseStyle{
	"eventName": caseExact, "eventType": caseExact, "eventCategory": caseExact, "errorCode": caseExact,
	"eventSource": caseLower, "awsRegion": caseLower,
	"userIdentity.type": caseExact, "userIdentity.sessionContext.sessionIssuer.type": caseExact,
}

var cloudtrailTarget = &target{
	name:    "AWS CloudTrail",
	sources: []string{"cloudtrail"},
	resolve: func(name string) (*field, string, error) {
		f, err := recordField("CloudTrail", name, cloudtrailTop, cloudtrailNested, cloudtrailCase)
		return f, "", err
	},
	summary: "{{ actor }} called {{ eventName }} ({{ eventSource }}) in {{ account }}/{{ region }} from {{ src_ip }}",
}

// Every Kubernetes audit event field (detect's k8s-audit schema).
var k8sTop = map[string]fieldType{
	"kind": typeString, "apiVersion": typeString, "level": typeString, "auditID": typeString,
	"stage": typeString, "requestURI": typeString, "verb": typeString, "user": typeMap,
	"impersonatedUser": typeMap, "sourceIPs": typeList, "userAgent": typeString, "objectRef": typeMap,
	"responseStatus": typeMap, "requestObject": typeMap, "responseObject": typeMap,
	"requestReceivedTimestamp": typeString, "stageTimestamp": typeString, "annotations": typeMap,
}

var k8sNested = map[string]fieldType{
	"objectRef.resource": typeNullString, "objectRef.subresource": typeNullString,
	"objectRef.namespace": typeNullString, "objectRef.name": typeNullString,
	"objectRef.apiGroup": typeNullString, "objectRef.apiVersion": typeNullString,
	"user.username": typeNullString, "impersonatedUser.username": typeNullString,
	"responseStatus.code": typeNullNumber, "responseStatus.status": typeNullString,
	"responseStatus.reason": typeNullString,
}

var k8sCase = map[string]caseStyle{
	"verb": caseLower, "stage": caseExact, "level": caseExact, "kind": caseExact,
	"objectRef.resource": caseLower, "objectRef.subresource": caseLower,
	"objectRef.namespace": caseLower, "objectRef.apiGroup": caseLower,
}

// k8sAliases are Sigma field names of the corpus that are not audit event
// fields, and what they are read as.
var k8sAliases = map[string]struct {
	f    field
	warn string
}{
	"apiGroup": {field{path: "objectRef.apiGroup", typ: typeNullString, cs: caseLower},
		"apiGroup is not an audit event field: read as objectRef.apiGroup"},
	"hostPath": {field{list: "requestObject.spec.volumes", path: "#.hostPath.path", existsOnly: true},
		"hostPath is not an audit event field: read as a hostPath volume in the pod's requestObject.spec.volumes (present at audit level Request or higher)"},
	"capabilities": {field{list: "requestObject.spec.containers", path: "#.securityContext.capabilities.add", existsOnly: true},
		"capabilities is not an audit event field: read as added capabilities of a container in the pod's requestObject.spec.containers (present at audit level Request or higher)"},
}

var k8sTarget = &target{
	name:    "Kubernetes audit",
	sources: []string{"k8s-audit"},
	resolve: func(name string) (*field, string, error) {
		if a, ok := k8sAliases[name]; ok {
			f := a.f
			f.sigma = name
			return &f, a.warn, nil
		}
		f, err := recordField("Kubernetes audit", name, k8sTop, k8sNested, k8sCase)
		return f, "", err
	},
	summary: "{{ actor }} {{ verb }} {{ target }} from {{ src_ip }} ({{ user_agent }})",
}

// webFields maps the W3C/Sigma web access log fields onto the normalized
// fields API Gateway and Envoy events share.
var webFields = map[string]field{
	"cs-uri-query":  {path: "target", typ: typeString},
	"c-uri-query":   {path: "target", typ: typeString},
	"cs-uri-stem":   {path: "target", typ: typeString},
	"c-uri-stem":    {path: "target", typ: typeString},
	"cs-uri":        {path: "target", typ: typeString},
	"c-uri":         {path: "target", typ: typeString},
	"c-uri-path":    {path: "target", typ: typeString},
	"cs-method":     {path: "action", typ: typeString}, // clients send any case
	"sc-status":     {path: "status_code", typ: typeInt},
	"cs-user-agent": {path: "user_agent", typ: typeString},
	"c-useragent":   {path: "user_agent", typ: typeString},
	"c-ip":          {path: "src_ip", typ: typeString},
	"src_ip":        {path: "src_ip", typ: typeString},
	"cs-username":   {path: "actor", typ: typeString},
	"sc-bytes":      {path: "bytes_out", typ: typeInt},
}

var webTarget = &target{
	name:    "web access logs",
	sources: []string{"apigateway", "envoy"},
	resolve: func(name string) (*field, string, error) {
		f, ok := webFields[name]
		if !ok {
			return nil, "", fmt.Errorf("web field %q has no Tripline equivalent (mapped: %s)", name, strings.Join(sortedKeys(webFields), ", "))
		}
		f.sigma = name
		var warn string
		if strings.HasSuffix(name, "-query") {
			warn = name + " is read from target, the request path: Envoy's includes the query string, API Gateway's access logs have none"
		}
		return &f, warn, nil
	},
	keywords: func() (string, string) {
		return `string(line ?? target)`, "keywords are searched in the access log line as received (line) or, for JSON records, which have none, in the request path (target)"
	},
	summary: "{{ src_ip }} {{ action }} {{ target }} answered {{ status_code }} ({{ user_agent }})",
}

// gcpTop are the top-level fields of a Cloud Logging LogEntry.
var gcpTop = map[string]fieldType{
	"protoPayload": typeMap, "jsonPayload": typeMap, "textPayload": typeAny, "resource": typeMap,
	"logName": typeAny, "severity": typeAny, "labels": typeMap, "httpRequest": typeMap,
	"timestamp": typeAny, "receiveTimestamp": typeAny, "insertId": typeAny, "operation": typeMap,
	"trace": typeAny, "spanId": typeAny, "sourceLocation": typeMap,
}

// gcpAliases are the ECS-style names Sigma's GCP rules use.
var gcpAliases = map[string]string{
	"gcp.audit.method_name":     "protoPayload.methodName",
	"gcp.audit.service_name":    "protoPayload.serviceName",
	"gcp.audit.resource_name":   "protoPayload.resourceName",
	"gcp.audit.principal_email": "protoPayload.authenticationInfo.principalEmail",
}

var gcpTarget = &target{
	name:    "Google Cloud audit logs",
	sources: []string{"gcp"},
	resolve: func(name string) (*field, string, error) {
		if a, ok := gcpAliases[name]; ok {
			name = a
		} else if rest, ok := strings.CutPrefix(name, "data."); ok {
			name = rest // the Pub/Sub export wrapping; Tripline's record is the LogEntry
		}
		f, err := recordField("Cloud Logging", name, gcpTop, nil, nil)
		return f, "", err
	},
	summary: "{{ actor }} called {{ action }} on {{ target }} ({{ account }}) from {{ src_ip }}",
}

// azureTop are the fields of an Azure resource log record (activity log
// schema).
var azureTop = map[string]fieldType{
	"resourceId": typeAny, "operationName": typeAny, "operationVersion": typeAny,
	"category": typeAny, "resultType": typeAny, "resultSignature": typeAny, "resultDescription": typeAny,
	"durationMs": typeAny, "callerIpAddress": typeAny, "correlationId": typeAny, "identity": typeMap,
	"level": typeAny, "location": typeAny, "properties": typeMap, "tenantId": typeAny,
}

var azureTarget = &target{
	name:    "Azure activity logs",
	sources: []string{"azure"},
	resolve: func(name string) (*field, string, error) {
		f, err := recordField("Azure activity log", name, azureTop, nil, nil)
		return f, "", err
	},
	summary: "{{ actor }} {{ action }} {{ target }} from {{ src_ip }}",
}
