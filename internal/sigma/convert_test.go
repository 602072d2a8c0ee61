package sigma

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const (
	lsCloudTrail = "{product: aws, service: cloudtrail}"
	lsK8s        = "{product: kubernetes, service: audit}"
	lsWeb        = "{category: webserver}"
)

// convertOne converts one Sigma rule built from a logsource and a
// detection (YAML, indented by 4 under detection:).
func convertOne(t *testing.T, logsource, detection string) *Result {
	t.Helper()
	doc := "title: Test rule\nid: 5f1d0e7a-0000-4000-8000-000000000001\nlevel: high\nlogsource: " + logsource + "\ndetection:\n" + indent(detection, "    ")
	rs := Convert([]Input{{Name: "test.yml", Data: []byte(doc)}}, Options{})
	if len(rs) != 1 {
		t.Fatalf("got %d results", len(rs))
	}
	return rs[0]
}

func indent(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pre + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// ruleKey reads a top-level key of a converted rule.
func ruleKey(t *testing.T, data []byte, key string) any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m[key]
}

func TestExpressions(t *testing.T) {
	tests := []struct {
		name, ls, det, want string
		warn                bool
	}{
		// Plain values, lists, maps, case.
		{"eq typed exact", lsCloudTrail, "sel:\n  eventName: ConsoleLogin\ncondition: sel", `eventName == "ConsoleLogin"`, false},
		{"eq lower-case field", lsCloudTrail, "sel:\n  eventSource: IAM.amazonaws.com\ncondition: sel", `lower(eventSource) == "iam.amazonaws.com"`, false},
		{"eq lower-case field, lower literal", lsCloudTrail, "sel:\n  eventSource: iam.amazonaws.com\ncondition: sel", `eventSource == "iam.amazonaws.com"`, false},
		{"eq folded typed", lsCloudTrail, "sel:\n  userAgent: TruffleHog\ncondition: sel", `lower(userAgent) == "trufflehog"`, false},
		{"eq untyped member", lsCloudTrail, "sel:\n  requestParameters.attribute: userData\ncondition: sel", `lower(string(requestParameters.attribute ?? "")) == "userdata"`, false},
		{"eq known string member", lsCloudTrail, "sel:\n  userIdentity.type: Root\ncondition: sel", `userIdentity.type == "Root"`, false},
		{"list is or, in", lsCloudTrail, "sel:\n  eventName: [StopLogging, DeleteTrail]\ncondition: sel", `eventName in ["StopLogging", "DeleteTrail"]`, false},
		{"map is and", lsK8s, "sel:\n  verb: create\n  objectRef.resource: pods\ncondition: sel", "verb == \"create\"\nand objectRef.resource == \"pods\"", false},
		{"list of maps is or", lsCloudTrail, "sel:\n  - eventSource: ssm.amazonaws.com\n  - sourceIPAddress: AWS Internal\ncondition: sel", "eventSource == \"ssm.amazonaws.com\"\nor lower(sourceIPAddress) == \"aws internal\"", false},
		{"number on number field", lsK8s, "sel:\n  responseStatus.code: [401, 403]\ncondition: sel", `responseStatus.code in [401, 403]`, false},
		{"number on typed int", lsWeb, "sel:\n  sc-status: '404'\ncondition: sel", `status_code == 404`, false},
		{"http method folded", lsWeb, "sel:\n  cs-method: post\ncondition: sel", `lower(action) == "post"`, false},
		{"http method folded, upper", lsWeb, "sel:\n  cs-method: [GET, Post]\ncondition: sel", `lower(action) in ["get", "post"]`, false},
		// Case-sensitive fields take a literal as written only in the
		// producer's case; otherwise both sides are folded.
		{"exact field, lower literal", lsCloudTrail, "sel:\n  userIdentity.type: root\ncondition: sel", `lower(userIdentity.type) == "root"`, false},
		{"exact field, contains", lsCloudTrail, "sel:\n  eventName|contains: 'delete'\ncondition: sel", `lower(eventName) contains "delete"`, false},
		{"exact field, contains list", lsCloudTrail, "sel:\n  eventName|contains: [Delete, Stop]\ncondition: sel", `icontains_any(eventName, ["delete", "stop"])`, false},
		{"exact field, mixed case list", lsCloudTrail, "sel:\n  eventName: [DeleteTrail, stopLogging, StopLogging]\ncondition: sel", "eventName in [\"DeleteTrail\", \"StopLogging\"]\nor lower(eventName) == \"stoplogging\"", false},
		{"exact field, pattern", lsCloudTrail, "sel:\n  eventName: 'Put*Policy'\ncondition: sel", `eventName matches "(?is)^Put.*Policy$"`, false},
		{"lower field, upper literal", lsK8s, "sel:\n  verb: [CREATE, delete]\ncondition: sel", "lower(verb) == \"create\"\nor verb == \"delete\"", false},
		{"exact field, cased", lsCloudTrail, "sel:\n  eventName|cased: deleteTrail\ncondition: sel", `eventName == "deleteTrail"`, false},
		// A list mixing numbers and strings: each way of reading the
		// field is its own group.
		{"mixed number and string", lsCloudTrail, "sel:\n  userIdentity.userName: [12345, 'Admin', Bob]\ncondition: sel", "userIdentity.userName == \"12345\"\nor lower(userIdentity.userName) in [\"admin\", \"bob\"]", false},
		{"mixed number and string, contains", lsCloudTrail, "sel:\n  userAgent|contains: [123, 'Boto', 45]\ncondition: sel", "contains_any(userAgent, [\"123\", \"45\"])\nor lower(userAgent) contains \"boto\"", false},
		{"mixed number and string, member", lsCloudTrail, "sel:\n  requestParameters.x: [7, 'On']\ncondition: sel", "string(requestParameters.x ?? \"\") == \"7\"\nor lower(string(requestParameters.x ?? \"\")) == \"on\"", false},
		// null and empty.
		{"null typed string", lsCloudTrail, "sel:\n  errorCode: null\ncondition: sel", `errorCode == ""`, false},
		{"null member", lsCloudTrail, "sel:\n  requestParameters.x: null\ncondition: sel", `requestParameters.x == nil`, false},
		{"empty string", lsCloudTrail, "sel:\n  requestParameters.x: ''\ncondition: sel", `lower(string(requestParameters.x ?? "")) == ""`, false},
		// Wildcards.
		{"star alone is present", lsCloudTrail, "sel:\n  errorMessage: '*'\ncondition: sel", `errorMessage != ""`, false},
		{"leading star", lsCloudTrail, "sel:\n  userAgent: '*boto3'\ncondition: sel", `lower(userAgent) endsWith "boto3"`, false},
		{"trailing star", lsCloudTrail, "sel:\n  eventName: 'Put*'\ncondition: sel", `lower(eventName) startsWith "put"`, false},
		{"inner wildcards", lsCloudTrail, "sel:\n  userAgent: 'aws-cli/?.*linux'\ncondition: sel", `userAgent matches "(?is)^aws-cli/.\\..*linux$"`, false},
		{"escaped star", lsCloudTrail, "sel:\n  userAgent: 'a\\*b'\ncondition: sel", `lower(userAgent) == "a*b"`, false},
		{"backslash literal", lsCloudTrail, "sel:\n  userAgent: 'C:\\Windows'\ncondition: sel", `lower(userAgent) == "c:\\windows"`, false},
		// Modifiers.
		{"contains", lsCloudTrail, "sel:\n  userAgent|contains: S3 Browser\ncondition: sel", `lower(userAgent) contains "s3 browser"`, false},
		{"contains list", lsCloudTrail, "sel:\n  userAgent|contains: [a, B]\ncondition: sel", `icontains_any(userAgent, ["a", "b"])`, false},
		{"contains all", lsCloudTrail, "sel:\n  userAgent|contains|all: [a, b]\ncondition: sel", "lower(userAgent) contains \"a\"\nand lower(userAgent) contains \"b\"", false},
		{"contains cased", lsCloudTrail, "sel:\n  userAgent|contains|cased: [a, B]\ncondition: sel", `contains_any(userAgent, ["a", "B"])`, false},
		{"startswith", lsCloudTrail, "sel:\n  eventName|startswith: UpdateFunctionConfiguration\ncondition: sel", `lower(eventName) startsWith "updatefunctionconfiguration"`, false},
		{"endswith", lsWeb, "sel:\n  cs-uri-query|endswith: /bash\ncondition: sel", `lower(target) endsWith "/bash"`, true},
		{"contains star", lsCloudTrail, "sel:\n  requestParameters.layers|contains: '*'\ncondition: sel", `requestParameters.layers != nil`, false},
		{"re", lsCloudTrail, "sel:\n  userIdentity.arn|re: '.+:assumed-role/aws:.+'\ncondition: sel", `(userIdentity.arn ?? "") matches ".+:assumed-role/aws:.+"`, false},
		{"re i", lsCloudTrail, "sel:\n  userAgent|re|i: '^boto'\ncondition: sel", `userAgent matches "(?i)^boto"`, false},
		{"cidr", lsCloudTrail, "sel:\n  sourceIPAddress|cidr: [10.0.0.0/8, 192.168.0.0/16]\ncondition: sel", `cidr(sourceIPAddress, "10.0.0.0/8", "192.168.0.0/16")`, false},
		{"cidr list field", lsK8s, "sel:\n  sourceIPs|cidr: 10.0.0.0/8\ncondition: sel", `any(sourceIPs, {cidr(string(# ?? ""), "10.0.0.0/8")})`, false},
		{"base64", lsCloudTrail, "sel:\n  userAgent|base64|contains: abc\ncondition: sel", `userAgent contains "YWJj"`, false},
		{"base64offset", lsCloudTrail, "sel:\n  userAgent|base64offset|contains: /bin/sh\ncondition: sel", `contains_any(userAgent, ["L2Jpbi9za", "9iaW4vc2", "vYmluL3No"])`, false},
		{"windash", lsCloudTrail, "sel:\n  userAgent|windash|contains: ' -e '\ncondition: sel", `icontains_any(userAgent, [" -e ", " /e ", " –e ", " —e ", " ―e "])`, false},
		{"exists", lsCloudTrail, "sel:\n  requestParameters.policy|exists: true\ncondition: sel", `requestParameters.policy != nil`, false},
		{"exists false", lsCloudTrail, "sel:\n  errorCode|exists: false\ncondition: sel", `errorCode == ""`, false},
		{"fieldref", lsCloudTrail, "sel:\n  userIdentity.userName|fieldref: requestParameters.userName\ncondition: sel", "userIdentity.userName != nil\nand requestParameters.userName != nil\nand (userIdentity.userName ?? \"\") == string(requestParameters.userName ?? \"\")", false},
		{"gte", lsWeb, "sel:\n  sc-bytes|gte: 1000000\ncondition: sel", `bytes_out >= 1000000`, false},
		{"object contains", lsCloudTrail, "sel:\n  requestParameters|contains: Suspended\ncondition: sel", `lower(toJSON(requestParameters)) contains "suspended"`, true},
		{"bool field", lsCloudTrail, "sel:\n  readOnly: 'false'\ncondition: sel", `readOnly == false`, false},
		{"k8s alias", lsK8s, "sel:\n  apiGroup: apps\ncondition: sel", `objectRef.apiGroup == "apps"`, true},
		{"k8s derived presence", lsK8s, "sel:\n  hostPath: '*'\ncondition: sel", `any(requestObject.spec.volumes, {#.hostPath.path != nil})`, true},
		{"keywords", lsWeb, "kw:\n  - '.git/'\n  - 'a*b'\ncondition: kw", "icontains_any(string(line ?? target), [\".git/\"])\nor string(line ?? target) matches \"(?is)a.*b\"", true},
		// Conditions.
		{"and not", lsCloudTrail, "sel:\n  eventName: ListBuckets\nfilter:\n  userIdentity.type: AssumedRole\ncondition: sel and not filter", "eventName == \"ListBuckets\"\nand not (userIdentity.type == \"AssumedRole\")", false},
		{"or parens", lsCloudTrail, "a:\n  eventName: A\nb:\n  eventName: B\nc:\n  eventSource: c\ncondition: (a or b) and c", "(eventName == \"A\" or eventName == \"B\")\nand eventSource == \"c\"", false},
		{"1 of pattern", lsCloudTrail, "sel:\n  eventName: A\ns_1:\n  errorCode: X\ns_2:\n  errorCode: null\ncondition: sel and 1 of s_*", "eventName == \"A\"\nand (errorCode == \"X\" or errorCode == \"\")", false},
		{"all of pattern", lsCloudTrail, "s_a:\n  eventName: A\ns_b:\n  eventSource: b\ncondition: all of s_*", "eventName == \"A\"\nand eventSource == \"b\"", false},
		{"1 of them", lsCloudTrail, "a:\n  eventName: A\n_b:\n  eventName: B\nc:\n  eventName: C\ncondition: 1 of them", "eventName == \"A\"\nor eventName == \"C\"", false},
		{"all of them", lsCloudTrail, "a:\n  eventName: A\nb:\n  eventSource: b\ncondition: all of them", "eventName == \"A\"\nand eventSource == \"b\"", false},
		{"not 1 of", lsCloudTrail, "sel:\n  eventName: A\nf_1:\n  userAgent: x\nf_2:\n  userAgent: y\ncondition: sel and not 1 of f_*", "eventName == \"A\"\nand not (lower(userAgent) == \"x\" or lower(userAgent) == \"y\")", false},
		{"NOT keyword case", lsCloudTrail, "a:\n  eventName: A\nb:\n  eventName: B\ncondition: a AND NOT b", "eventName == \"A\"\nand not (eventName == \"B\")", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := convertOne(t, tc.ls, tc.det)
			if r.Status == Refused {
				t.Fatalf("refused: %s", r.Reason)
			}
			got := strings.TrimRight(ruleKey(t, r.Rule, "when").(string), "\n")
			if got != tc.want {
				t.Errorf("when:\n got %s\nwant %s", got, tc.want)
			}
			if (r.Status == Warned) != tc.warn {
				t.Errorf("warnings %q, want warning: %v", r.Warnings, tc.warn)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct{ name, ls, det, reason string }{
		{"unknown logsource", "{product: windows, service: security}", "sel:\n  EventID: 4624\ncondition: sel", "has no Tripline source"},
		{"unknown CloudTrail field", lsCloudTrail, "sel:\n  status: success\ncondition: sel", `field "status" does not exist in CloudTrail records`},
		{"unknown web field", lsWeb, "sel:\n  cs-referer: x\ncondition: sel", `web field "cs-referer" has no Tripline equivalent`},
		{"keywords on CloudTrail", lsCloudTrail, "kw:\n  - evil\ncondition: kw", "keyword search"},
		{"wide", lsCloudTrail, "sel:\n  userAgent|wide|contains: x\ncondition: sel", "modifier wide"},
		{"expand", lsCloudTrail, "sel:\n  userAgent|expand: '%x%'\ncondition: sel", "modifier expand"},
		{"unknown modifier", lsCloudTrail, "sel:\n  userAgent|frobnicate: x\ncondition: sel", `unknown modifier "frobnicate"`},
		{"number field, text value", lsK8s, "sel:\n  responseStatus.code: ALLOW\ncondition: sel", "is a number"},
		{"re2 cannot compile", lsCloudTrail, "sel:\n  userAgent|re: '(?<=a)b'\ncondition: sel", "does not compile"},
		{"bad cidr", lsCloudTrail, "sel:\n  sourceIPAddress|cidr: 10.0.0/33\ncondition: sel", "not a CIDR prefix"},
		{"aggregation pipe", lsCloudTrail, "sel:\n  eventName: A\ncondition: sel | count() > 5", "aggregation after |"},
		{"unknown selection", lsCloudTrail, "sel:\n  eventName: A\ncondition: sel and nope", `no selection named "nope"`},
		{"derived field with a value", lsK8s, "sel:\n  hostPath: /etc\ncondition: sel", "presence only"},
		{"base64offset without contains", lsCloudTrail, "sel:\n  userAgent|base64offset: x\ncondition: sel", "must be used with contains"},
		{"object compared whole", lsCloudTrail, "sel:\n  requestParameters: x\ncondition: sel", "is an object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := convertOne(t, tc.ls, tc.det)
			if r.Status != Refused {
				t.Fatalf("status %s, want refused; rule:\n%s", r.Status, r.Rule)
			}
			if !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("reason %q does not contain %q", r.Reason, tc.reason)
			}
		})
	}
}

func TestMetadata(t *testing.T) {
	doc := `title: AWS Thing / Happened (v2)
id: 0f1e2d3c-0000-4000-8000-000000000002
status: test
description: Something happened.
references: [https://example.com/a]
author: Jane Doe
tags: [attack.persistence, attack.t1098, cve.2024-0001]
falsepositives: [Admins, Automation]
level: informational
logsource: {product: aws, service: cloudtrail}
detection:
    sel: {eventName: A}
    condition: sel
`
	r := Convert([]Input{{Name: "x.yml", Data: []byte(doc)}}, Options{Schema: "../schema.json"})[0]
	if r.Status != Clean {
		t.Fatalf("%s: %s %v", r.Status, r.Reason, r.Warnings)
	}
	if !strings.HasPrefix(string(r.Rule), "# yaml-language-server: $schema=../schema.json\n") {
		t.Errorf("no schema comment:\n%s", r.Rule)
	}
	if r.ID != "sigma-aws-thing-happened-v2" {
		t.Errorf("id %q", r.ID)
	}
	if s := ruleKey(t, r.Rule, "severity"); s != "info" {
		t.Errorf("severity %v", s)
	}
	if tags := ruleKey(t, r.Rule, "tags"); len(tags.([]any)) != 2 {
		t.Errorf("tags %v", tags)
	}
	desc := ruleKey(t, r.Rule, "description").(string)
	for _, want := range []string{"Something happened.", "False positives: Admins; Automation", "0f1e2d3c-0000-4000-8000-000000000002", "author: Jane Doe", "cve.2024-0001"} {
		if !strings.Contains(desc, want) {
			t.Errorf("description lacks %q:\n%s", want, desc)
		}
	}
	// A second rule of the same title gets a distinct id.
	rs := Convert([]Input{{Name: "x.yml", Data: []byte(doc + "---\n" + doc)}}, Options{})
	if rs[0].ID == rs[1].ID {
		t.Errorf("duplicate ids %s", rs[0].ID)
	}
}
