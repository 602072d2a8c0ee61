package sigma

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/testenv"
)

// engineCase is a corpus rule with events that must and must not match
// the converted rule; the must-not events are near misses.
type engineCase struct {
	file        string // below the corpus rules/ folder
	match, miss []string
}

// k8sEvent is a complete audit event (the decoder requires auditID,
// stage, verb and a timestamp) with extra fields spliced in.
func k8sEvent(extra string) string {
	return `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a1","stage":"ResponseComplete",` +
		`"requestURI":"/api/v1/namespaces/shop/pods","user":{"username":"kim"},"sourceIPs":["203.0.113.5"],"userAgent":"kubectl/v1.30",` +
		`"requestReceivedTimestamp":"2026-01-01T00:00:00Z","stageTimestamp":"2026-01-01T00:00:00Z",` + extra + `}`
}

// apigwEvent is an API Gateway JSON access log line.
func apigwEvent(method, path string, status int, ua string) string {
	return `{"requestId":"r-1","ip":"198.51.100.7","requestTime":"01/Jan/2026:00:00:00 +0000","httpMethod":"` + method +
		`","path":"` + path + `","status":` + strconv.Itoa(status) + `,"protocol":"HTTP/1.1","responseLength":10,"userAgent":"` + ua + `"}`
}

var engineCases = []engineCase{
	{"cloud/aws/cloudtrail/aws_cloudtrail_disable_logging.yml",
		[]string{`{"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","requestParameters":{"name":"main"}}`},
		[]string{`{"eventSource":"cloudtrail.amazonaws.com","eventName":"StartLogging","requestParameters":{"name":"main"}}`}},
	{"cloud/aws/cloudtrail/aws_cloudtrail_console_login_success_without_mfa.yml",
		[]string{`{"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","additionalEventData":{"MFAUsed":"No"},"responseElements":{"ConsoleLogin":"Success"}}`},
		[]string{`{"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","additionalEventData":{"MFAUsed":"Yes"},"responseElements":{"ConsoleLogin":"Success"}}`,
			`{"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","additionalEventData":{"MFAUsed":"No"},"responseElements":{"ConsoleLogin":"Failure"}}`}},
	{"cloud/aws/cloudtrail/aws_enum_buckets.yml",
		[]string{`{"eventSource":"s3.amazonaws.com","eventName":"ListBuckets","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/x"}}`},
		[]string{`{"eventSource":"s3.amazonaws.com","eventName":"ListBuckets","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/r/x"}}`}},
	{"cloud/aws/cloudtrail/aws_cloudtrail_bucket_deleted.yml",
		[]string{`{"eventSource":"s3.amazonaws.com","eventName":"DeleteBucket","requestParameters":{"bucketName":"b"}}`},
		[]string{`{"eventSource":"s3.amazonaws.com","eventName":"DeleteBucket","errorCode":"AccessDenied","requestParameters":{"bucketName":"b"}}`}},
	{"cloud/aws/cloudtrail/aws_ec2_vm_export_failure.yml",
		[]string{`{"eventSource":"ec2.amazonaws.com","eventName":"CreateInstanceExportTask","responseElements":{"exportTask":{"state":"active"}}}`},
		[]string{`{"eventSource":"ec2.amazonaws.com","eventName":"CreateInstanceExportTask","errorCode":"Client.UnauthorizedOperation","errorMessage":"denied"}`,
			`{"eventSource":"ec2.amazonaws.com","eventName":"CreateInstanceExportTask","responseElements":{"result":"Failure"}}`}},
	{"cloud/aws/cloudtrail/aws_disable_bucket_versioning.yml",
		[]string{`{"eventSource":"s3.amazonaws.com","eventName":"PutBucketVersioning","requestParameters":{"bucketName":"b","VersioningConfiguration":{"Status":"Suspended"}}}`},
		[]string{`{"eventSource":"s3.amazonaws.com","eventName":"PutBucketVersioning","requestParameters":{"bucketName":"b","VersioningConfiguration":{"Status":"Enabled"}}}`}},
	{"cloud/aws/cloudtrail/aws_cloudtrail_imds_malicious_usage.yml",
		[]string{`{"eventSource":"s3.amazonaws.com","eventName":"ListBuckets","sourceIPAddress":"203.0.113.9","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/aws:ec2-instance/i-0abc"}}`},
		[]string{`{"eventSource":"s3.amazonaws.com","eventName":"ListBuckets","sourceIPAddress":"AWS Internal","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/aws:ec2-instance/i-0abc"}}`,
			`{"eventSource":"s3.amazonaws.com","eventName":"ListBuckets","sourceIPAddress":"203.0.113.9","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/app/i-0abc"}}`}},
	{"cloud/aws/cloudtrail/aws_cloudtrail_guardduty_detector_deleted_or_updated.yml",
		[]string{`{"eventSource":"guardduty.amazonaws.com","eventName":"UpdateDetector","requestParameters":{"detectorId":"d","enable":false}}`,
			`{"eventSource":"guardduty.amazonaws.com","eventName":"DeleteDetector","requestParameters":{"detectorId":"d"}}`},
		[]string{`{"eventSource":"guardduty.amazonaws.com","eventName":"UpdateDetector","requestParameters":{"detectorId":"d","enable":true}}`,
			`{"eventSource":"guardduty.amazonaws.com","eventName":"DeleteDetector","errorCode":"AccessDenied","requestParameters":{"detectorId":"d"}}`}},
	{"application/kubernetes/audit/kubernetes_audit_exec_into_container.yml",
		[]string{k8sEvent(`"verb":"create","objectRef":{"resource":"pods","subresource":"exec","namespace":"shop","name":"web-0"},"responseStatus":{"code":101}`)},
		[]string{k8sEvent(`"verb":"get","objectRef":{"resource":"pods","subresource":"log","namespace":"shop","name":"web-0"},"responseStatus":{"code":200}`)}},
	{"application/kubernetes/audit/kubernetes_audit_unauthorized_unauthenticated_actions.yml",
		[]string{k8sEvent(`"verb":"list","objectRef":{"resource":"secrets","namespace":"shop"},"responseStatus":{"code":403,"reason":"Forbidden"}`)},
		[]string{k8sEvent(`"verb":"list","objectRef":{"resource":"secrets","namespace":"shop"},"responseStatus":{"code":200}`)}},
	{"application/kubernetes/audit/kubernetes_audit_hostpath_mount.yml",
		[]string{k8sEvent(`"verb":"create","objectRef":{"resource":"pods","namespace":"shop","name":"x"},"requestObject":{"kind":"Pod","spec":{"volumes":[{"name":"root","hostPath":{"path":"/"}}]}}`)},
		[]string{k8sEvent(`"verb":"create","objectRef":{"resource":"pods","namespace":"shop","name":"x"},"requestObject":{"kind":"Pod","spec":{"volumes":[{"name":"tmp","emptyDir":{}}]}}`)}},
	{"application/kubernetes/audit/kubernetes_audit_rbac_permisions_listing.yml",
		[]string{k8sEvent(`"verb":"create","objectRef":{"resource":"selfsubjectrulesreviews","apiGroup":"authorization.k8s.io"}`)},
		[]string{k8sEvent(`"verb":"create","objectRef":{"resource":"selfsubjectaccessreviews","apiGroup":"authorization.k8s.io"}`)}},
	{"application/kubernetes/audit/kubernetes_audit_secrets_modified_or_deleted.yml",
		[]string{k8sEvent(`"verb":"delete","objectRef":{"resource":"secrets","namespace":"shop","name":"db"}`)},
		[]string{k8sEvent(`"verb":"get","objectRef":{"resource":"secrets","namespace":"shop","name":"db"}`)}},
	{"web/webserver_generic/web_susp_useragents.yml",
		[]string{apigwEvent("GET", "/", 200, "sqlmap/1.7.2#stable (https://sqlmap.org)")},
		[]string{apigwEvent("GET", "/", 200, "Mozilla/5.0 (X11; Linux x86_64)")}},
	{"web/webserver_generic/web_iis_tilt_shortname_scan.yml",
		[]string{apigwEvent("GET", "/scripts/abcdef~1/a.aspx", 200, "curl/8")},
		[]string{apigwEvent("GET", "/scripts/abcdef~1/a.aspx", 404, "curl/8")}},
	{"web/webserver_generic/web_sql_injection_in_access_logs.yml",
		[]string{apigwEvent("GET", "/items?id=1%20UNION%20SELECT%20password", 200, "curl/8")},
		[]string{apigwEvent("GET", "/items?id=1%20UNION%20SELECT%20password", 404, "curl/8"),
			apigwEvent("POST", "/items?id=1%20UNION%20SELECT%20password", 200, "curl/8")}},
}

// TestEngine runs converted corpus rules through the real engine: each
// event is decoded by the source's decoder and matched, with the inline
// tests the runner of "tripline rules test" uses.
func TestEngine(t *testing.T) {
	if _, err := os.Stat(corpusDir); err != nil {
		testenv.SkipOrFail(t, fmt.Sprintf("Sigma corpus not present: %v", err))
	}
	for _, tc := range engineCases {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(corpusDir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			r := Convert([]Input{{Name: tc.file, Data: data}}, Options{})[0]
			checkConverted(t, r, tc.match, tc.miss)
		})
	}
}

// TestCaseMatching runs converted detections through the engine: Sigma
// compares strings case-insensitively, so a literal in any case must
// match the value as the producer writes it, whether the field is
// compared exactly or folded.
func TestCaseMatching(t *testing.T) {
	ct := func(s string) string { return `{"eventSource":"cloudtrail.amazonaws.com",` + s + `}` }
	tests := []struct {
		name, ls, det string
		match, miss   []string
	}{
		{"mixed number and string", lsCloudTrail, "sel:\n  userIdentity.userName: [12345, 'Admin']\ncondition: sel",
			[]string{ct(`"eventName":"X","userIdentity":{"userName":"Admin"}`), ct(`"eventName":"X","userIdentity":{"userName":"admin"}`), ct(`"eventName":"X","userIdentity":{"userName":"12345"}`)},
			[]string{ct(`"eventName":"X","userIdentity":{"userName":"Bob"}`), ct(`"eventName":"X","userIdentity":{"userName":"123456"}`)}},
		{"mixed number and string, contains", lsCloudTrail, "sel:\n  userAgent|contains: [123, 'Boto']\ncondition: sel",
			[]string{ct(`"eventName":"X","userAgent":"x BOTO3"`), ct(`"eventName":"X","userAgent":"v1234"`)},
			[]string{ct(`"eventName":"X","userAgent":"curl/8"`)}},
		{"eventName contains, lower literal", lsCloudTrail, "sel:\n  eventName|contains: 'delete'\ncondition: sel",
			[]string{ct(`"eventName":"DeleteTrail"`)}, []string{ct(`"eventName":"StopLogging"`)}},
		{"eventName prefix, lower literal", lsCloudTrail, "sel:\n  eventName|startswith: 'put'\ncondition: sel",
			[]string{ct(`"eventName":"PutBucketPolicy"`)}, []string{ct(`"eventName":"GetBucketPolicy"`)}},
		{"eventName list, mixed case", lsCloudTrail, "sel:\n  eventName: [DeleteTrail, stoplogging]\ncondition: sel",
			[]string{ct(`"eventName":"DeleteTrail"`), ct(`"eventName":"StopLogging"`)}, []string{ct(`"eventName":"StartLogging"`)}},
		{"userIdentity.type lower literal", lsCloudTrail, "sel:\n  userIdentity.type: root\ncondition: sel",
			[]string{ct(`"eventName":"X","userIdentity":{"type":"Root"}`)}, []string{ct(`"eventName":"X","userIdentity":{"type":"IAMUser"}`), ct(`"eventName":"X"`)}},
		{"eventSource upper literal", lsCloudTrail, "sel:\n  eventSource: CloudTrail.amazonaws.com\ncondition: sel",
			[]string{ct(`"eventName":"X"`)}, []string{`{"eventSource":"s3.amazonaws.com","eventName":"X"}`}},
		{"k8s verb upper literal", lsK8s, "sel:\n  verb: CREATE\n  objectRef.resource: Pods\ncondition: sel",
			[]string{k8sEvent(`"verb":"create","objectRef":{"resource":"pods","namespace":"shop"}`)},
			[]string{k8sEvent(`"verb":"delete","objectRef":{"resource":"pods","namespace":"shop"}`)}},
		{"k8s stage lower literal", lsK8s, "sel:\n  stage: responsecomplete\n  verb: get\ncondition: sel",
			[]string{k8sEvent(`"verb":"get"`)}, []string{k8sEvent(`"verb":"list"`)}},
		{"http method any case", lsWeb, "sel:\n  cs-method: post\ncondition: sel",
			[]string{apigwEvent("POST", "/", 200, "curl/8"), apigwEvent("post", "/", 200, "curl/8")},
			[]string{apigwEvent("GET", "/", 200, "curl/8")}},
		{"http method upper literal", lsWeb, "sel:\n  cs-method: GET\ncondition: sel",
			[]string{apigwEvent("get", "/", 200, "curl/8"), apigwEvent("GET", "/", 200, "curl/8")},
			[]string{apigwEvent("POST", "/", 200, "curl/8")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := convertOne(t, tc.ls, tc.det)
			checkConverted(t, r, tc.match, tc.miss)
		})
	}
}

// checkConverted runs a converted rule through the real decoders and
// engine (detect.RunTests) with events that must match and near misses
// that must not.
func checkConverted(t *testing.T, r *Result, match, miss []string) {
	t.Helper()
	if r.Status == Refused {
		t.Fatalf("refused: %s", r.Reason)
	}
	var b strings.Builder
	b.Write(r.Rule)
	b.WriteString("tests:\n")
	for i, e := range match {
		b.WriteString("  - {name: match " + strconv.Itoa(i) + ", expect: true, event: " + e + "}\n")
	}
	for i, e := range miss {
		b.WriteString("  - {name: near miss " + strconv.Itoa(i) + ", expect: false, event: " + e + "}\n")
	}
	rules, errs := detect.Parse(r.FileName(), []byte(b.String()))
	if len(errs) > 0 {
		t.Fatalf("%v\n%s", errs, b.String())
	}
	for _, res := range detect.RunTests(rules[0], ingest.Decoders(ingest.DefaultSourceConfig)) {
		if !res.Passed {
			t.Errorf("%s\n%s", res, r.Rule)
		}
	}
}
