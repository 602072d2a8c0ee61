// Package loadgen makes realistic CloudTrail traffic for benchmarks and
// soak tests: mostly benign management events from a few principals, with
// a chosen share of attack events that the built-in rules detect.
package loadgen

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// Generator makes CloudTrail records. It is not safe for concurrent use.
type Generator struct {
	rnd     *rand.Rand
	account string
	seq     uint64
	prefix  string
}

// New returns a generator whose ids start with prefix (so runs don't
// collide) and whose randomness comes from seed.
func New(prefix string, seed uint64) *Generator {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return &Generator{rnd: r, account: fmt.Sprintf("%012d", r.Int64N(1e12)), prefix: prefix}
}

var benign = []struct{ source, name string }{
	{"lambda.amazonaws.com", "GetFunction20150331v2"},
	{"lambda.amazonaws.com", "ListFunctions20150331"},
	{"sts.amazonaws.com", "AssumeRole"},
	{"sts.amazonaws.com", "GetCallerIdentity"},
	{"ec2.amazonaws.com", "DescribeInstances"},
	{"s3.amazonaws.com", "ListBuckets"},
	{"logs.amazonaws.com", "CreateLogStream"},
	{"dynamodb.amazonaws.com", "DescribeTable"},
	{"kms.amazonaws.com", "Decrypt"},
	{"iam.amazonaws.com", "GetRole"},
	{"cloudformation.amazonaws.com", "DescribeStacks"},
	{"secretsmanager.amazonaws.com", "DescribeSecret"},
}

var regions = []string{"us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"}

// Record returns the next record and its eventID; attack records grant
// any principal the right to invoke a Lambda function.
func (g *Generator) Record(t time.Time, attack bool) ([]byte, string) {
	g.seq++
	id := fmt.Sprintf("%s-%016x-%08x", g.prefix, g.seq, g.rnd.Uint32())
	region := regions[g.rnd.IntN(len(regions))]
	role := fmt.Sprintf("svc-%s", []string{"orders", "billing", "search", "auth", "ingest"}[g.rnd.IntN(5)])
	fn := fmt.Sprintf("%s-handler-%04d", role, g.rnd.IntN(500))
	rec := map[string]any{
		"eventVersion": "1.09",
		"userIdentity": map[string]any{
			"type":        "AssumedRole",
			"principalId": fmt.Sprintf("AROA%016X:%s", g.rnd.Uint64()>>8, fn),
			"arn":         fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", g.account, role, fn),
			"accountId":   g.account,
			"accessKeyId": fmt.Sprintf("ASIA%016X", g.rnd.Uint64()>>8),
			"sessionContext": map[string]any{
				"sessionIssuer": map[string]any{"type": "Role", "principalId": "AROAEXAMPLE", "arn": fmt.Sprintf("arn:aws:iam::%s:role/%s", g.account, role), "accountId": g.account, "userName": role},
				"attributes":    map[string]any{"creationDate": t.Add(-time.Hour).Format(time.RFC3339), "mfaAuthenticated": "false"},
			},
		},
		"eventTime":          t.UTC().Format(time.RFC3339),
		"awsRegion":          region,
		"sourceIPAddress":    fmt.Sprintf("10.%d.%d.%d", g.rnd.IntN(256), g.rnd.IntN(256), g.rnd.IntN(256)),
		"userAgent":          "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/lambda#1.56.3",
		"requestID":          fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", g.rnd.Uint32(), g.rnd.IntN(1<<16), g.rnd.IntN(1<<16), g.rnd.IntN(1<<16), g.rnd.Uint64()>>16),
		"eventID":            id,
		"readOnly":           true,
		"eventType":          "AwsApiCall",
		"managementEvent":    true,
		"recipientAccountId": g.account,
		"eventCategory":      "Management",
		"tlsDetails":         map[string]any{"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": "lambda." + region + ".amazonaws.com"},
	}
	if attack {
		rec["eventSource"] = "lambda.amazonaws.com"
		rec["eventName"] = "AddPermission20150331v2"
		rec["readOnly"] = false
		rec["sourceIPAddress"] = fmt.Sprintf("%d.%d.%d.%d", 100+g.rnd.IntN(100), g.rnd.IntN(256), g.rnd.IntN(256), 1+g.rnd.IntN(254))
		rec["requestParameters"] = map[string]any{"functionName": fn, "statementId": fmt.Sprintf("s%d", g.rnd.IntN(1e6)), "action": "lambda:InvokeFunction", "principal": "*"}
		rec["responseElements"] = map[string]any{"statement": fmt.Sprintf(`{"Sid":"s","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:%s:%s:function:%s"}`, region, g.account, fn)}
	} else {
		b := benign[g.rnd.IntN(len(benign))]
		rec["eventSource"] = b.source
		rec["eventName"] = b.name
		rec["requestParameters"] = map[string]any{"functionName": fn, "maxItems": 50}
		rec["responseElements"] = nil
	}
	out, err := json.Marshal(rec)
	if err != nil {
		panic(err) // the record is built from plain values
	}
	return out, id
}
