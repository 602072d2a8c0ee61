package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/testenv"
)

// testAddr is the ClickHouse server the tests use: the one
// deploy/clickhouse/ch.sh starts, unless TRIPLINE_TEST_CLICKHOUSE says
// otherwise.
func testAddr() string {
	if a := os.Getenv("TRIPLINE_TEST_CLICKHOUSE"); a != "" {
		return a
	}
	return DefaultAddr
}

// requireServer skips the test (fails it when CI is set) if no ClickHouse
// server answers at testAddr.
func requireServer(tb testing.TB) {
	tb.Helper()
	addr := testAddr()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, DialTimeout: 3 * time.Second})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = conn.Ping(ctx)
		cancel()
		conn.Close()
	}
	if err == nil {
		return
	}
	msg := fmt.Sprintf("no ClickHouse server at %s (start one with deploy/clickhouse/ch.sh start, or set TRIPLINE_TEST_CLICKHOUSE=host:port): %v", addr, err)
	testenv.SkipOrFail(tb, msg)
}

// randomDB returns a fresh database name for one test.
func randomDB() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "tripline_test_" + hex.EncodeToString(b[:])
}

// openTest opens a store on a new random database that is dropped when
// the test ends.
func openTest(tb testing.TB) *Store {
	tb.Helper()
	requireServer(tb)
	db := randomDB()
	ctx := context.Background()
	s, err := Open(ctx, Config{Addr: testAddr(), Database: db})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.conn.Exec(context.Background(), "DROP DATABASE IF EXISTS `"+db+"`"); err != nil {
			tb.Errorf("drop test database %s: %v", db, err)
		}
		s.Close()
	})
	return s
}

// rawRecord is a CloudTrail-like record of about 1 KB.
const rawRecord = `{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLEID:session-%[1]d","arn":"arn:aws:sts::123456789012:assumed-role/deploy/session-%[1]d","accountId":"123456789012","accessKeyId":"ASIAEXAMPLEKEY%[1]d","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLEID","arn":"arn:aws:iam::123456789012:role/deploy","accountId":"123456789012","userName":"deploy"},"attributes":{"creationDate":"2024-05-01T10:00:00Z","mfaAuthenticated":"false"}}},"eventTime":"2024-05-01T10:%02[2]d:%02[3]d.123Z","eventSource":"lambda.amazonaws.com","eventName":"UpdateFunctionCode20150331v2","awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.%[4]d","userAgent":"aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.amzn.2 prompt/off command/lambda.update-function-code","requestParameters":{"functionName":"payments-api-%[5]d","publish":true,"dryRun":false,"zipFile":"<redacted>"},"responseElements":{"functionName":"payments-api-%[5]d","runtime":"python3.12","codeSize":53242,"lastModified":"2024-05-01T10:00:01.000+0000"},"requestID":"4f3c1e2a-0000-4000-8000-%012[1]d","eventID":"evt-%[1]d","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012","eventCategory":"Management","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"lambda.eu-west-1.amazonaws.com"}}`

var testBase = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// testEvent returns the i-th of a stream of realistic events, every field
// set, with sub-second times.
func testEvent(i int) event.Event {
	t := testBase.Add(time.Duration(i) * 7919 * time.Microsecond)
	sources := []string{"cloudtrail", "json", "k8s_audit"}
	return event.Event{
		Time:       t,
		Source:     sources[i%len(sources)],
		EventID:    fmt.Sprintf("evt-%d", i),
		Account:    "123456789012",
		Region:     "eu-west-1",
		Service:    "lambda.amazonaws.com",
		Actor:      fmt.Sprintf("arn:aws:sts::123456789012:assumed-role/deploy/session-%d", i%50),
		SrcIP:      fmt.Sprintf("203.0.113.%d", i%250),
		UserAgent:  "aws-cli/2.15.0 Python/3.11.6",
		Action:     "UpdateFunctionCode20150331v2",
		Target:     fmt.Sprintf("payments-api-%d", i%10),
		Outcome:    event.OutcomeSuccess,
		StatusCode: 200 + i%5,
		ErrorCode:  "",
		BytesOut:   int64(53242 + i),
		DurationMS: 12.5 + float64(i%100)/8,
		Message:    "UpdateFunctionCode on payments-api",
		IngestedAt: t.Add(1500*time.Millisecond + 17*time.Nanosecond),
		Raw:        fmt.Appendf(nil, rawRecord, i, (i/60)%60, i%60, i%250, i%10),
	}
}

func testEvents(from, n int) []event.Event {
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = testEvent(from + i)
	}
	return evs
}
