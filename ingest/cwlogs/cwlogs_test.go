package cwlogs

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// awsExample is the Lambda subscription payload of the AWS Powertools docs.
const awsExample = `{"awslogs":{"data":"H4sIAAAAAAAAAHWPwQqCQBCGX0Xm7EFtK+smZBEUgXoLCdMhFtKV3akI8d0bLYmibvPPN3wz00CJxmQnTO41whwWQRIctmEcB6sQbFC3CjW3XW8kxpOpP+OC22d1Wml1qZkQGtoMsScxaczKN3plG8zlaHIta5KqWsozoTYw3/djzwhpLwivWFGHGpAFe7DL68JlBUk+l7KSN7tCOEJ4M3/qOI49vMHj+zCKdlFqLaU2ZHV2a4Ct/an0/ivdX8oYc1UVX860fQDQiMdxRQEAAA=="}}`

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

const control = `{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1684423980083,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}`

func TestDecode(t *testing.T) {
	b, err := Decode([]byte(awsExample), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if b.MessageType != DataMessage || b.Owner != "123456789123" || b.LogGroup != "testLogGroup" ||
		len(b.LogEvents) != 2 || b.LogEvents[1].ID != "eventId2" || b.LogEvents[1].Timestamp != 1440442987001 ||
		b.LogEvents[0].Message != "[ERROR] First test message" {
		t.Fatalf("decoded %+v", b)
	}
	// The same batch as raw gzip (Kinesis, Firehose) and as plain JSON.
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimSuffix(strings.TrimPrefix(awsExample, `{"awslogs":{"data":"`), `"}}`))
	for _, p := range [][]byte{raw, gz(control)} {
		if _, err := Decode(p, 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Decode([]byte(control), 1<<20)
	if err != nil || c.MessageType != ControlMessage {
		t.Fatalf("control message: %v %+v", err, c)
	}
}

func TestDecodeRejects(t *testing.T) {
	bomb := gz(`{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":[{"message":"` + strings.Repeat("A", 4<<20) + `"}]}`)
	good := gz(control)
	tests := []struct {
		name    string
		payload []byte
		want    string
	}{
		{"gzip bomb", bomb, "size limit"},
		{"base64 over the limit", []byte(`{"awslogs":{"data":"` + strings.Repeat("QUFB", 1<<19) + `"}}`), "size limit"},
		{"not base64", []byte(`{"awslogs":{"data":"***"}}`), "not base64"},
		{"truncated gzip", good[:len(good)-6], "truncated"},
		{"not gzip, not JSON", []byte("\x1f\x8bxx"), "gzip"},
		{"unknown message type", []byte(`{"messageType":"X"}`), "unknown messageType"},
		{"data without log group", []byte(`{"messageType":"DATA_MESSAGE"}`), "logGroup"},
		{"garbage", []byte(`nope`), "batch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.payload, 1<<20)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if tt.want == "size limit" && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%v is not ErrTooLarge", err)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(awsExample))
	f.Add(gz(control))
	f.Add([]byte(control))
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := Decode(p, 64<<10)
		if err != nil {
			return
		}
		if b.MessageType != DataMessage && b.MessageType != ControlMessage {
			t.Fatalf("accepted message type %q", b.MessageType)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/lambda/orders","logStream":"2026/11/24/[$LATEST]abc","subscriptionFilters":["f"],"logEvents":[`)
	for i := range 200 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"id":"37516444893477353435903345983543849283498234987234982340","timestamp":1764147600000,"message":"2026-11-24T09:00:00.000Z\t632d3270-354e-4504-96e1-e3a74218c002\tINFO\torder created id=42 total=17.50\n"}`)
	}
	sb.WriteString(`]}`)
	payload := gz(sb.String())
	b.SetBytes(int64(sb.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(payload, 10<<20); err != nil {
			b.Fatal(err)
		}
	}
}
