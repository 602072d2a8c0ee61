package otlplog

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

// seeds returns the golden inputs of one encoding; for protobuf also
// every JSON input that parses, converted.
func seeds(f *testing.F, ct string) [][]byte {
	all, err := filepath.Glob(filepath.Join("testdata", "otlp", "*"))
	if err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	for _, p := range all {
		if strings.HasSuffix(p, ".golden") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		isPB := strings.HasSuffix(p, ".pb")
		switch {
		case ct == ContentTypeJSON && !isPB:
			out = append(out, b)
		case ct == ContentTypeProto && isPB:
			out = append(out, b)
		case ct == ContentTypeProto:
			req := plogotlp.NewExportRequest()
			if req.UnmarshalJSON(b) == nil {
				pb, _ := req.MarshalProto()
				out = append(out, pb)
			}
		}
	}
	return out
}

// checkDecode is the property both fuzz targets check.
func checkDecode(t *testing.T, body []byte, ct string) {
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	const maxBytes = 4096
	res, err := Decode(body, ct, maxBytes, now)
	if err != nil {
		if !errors.Is(err, ErrBadRequest) && !errors.Is(err, ErrTooManyRecords) {
			t.Fatalf("unexpected error class: %v", err)
		}
		if sb, _ := Status(ct, HTTPStatus(err), err.Error()); len(sb) == 0 {
			t.Fatal("empty status body")
		}
		return
	}
	ids := map[string]bool{}
	for i, ev := range res.Events {
		if ev.Source != Source || ev.EventID == "" {
			t.Fatalf("event %d: source %q, id %q", i, ev.Source, ev.EventID)
		}
		if ids[ev.EventID] {
			t.Fatalf("event %d: id %q repeated", i, ev.EventID)
		}
		ids[ev.EventID] = true
		var m map[string]any
		if err := json.Unmarshal(ev.Raw, &m); err != nil || m == nil {
			t.Fatalf("event %d: Raw is not a JSON object (%v): %s", i, err, ev.Raw)
		}
		if int64(len(ev.Raw)) > maxBytes {
			t.Fatalf("event %d: Raw of %d bytes passed the limit", i, len(ev.Raw))
		}
		if ev.Time.Before(time.Unix(0, 0)) || !ev.Time.Before(time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)) ||
			ev.Time.Location() != time.UTC {
			t.Fatalf("event %d: time %v", i, ev.Time)
		}
		if _, err := json.Marshal(ev); err != nil {
			t.Fatalf("event %d does not marshal: %v", i, err)
		}
	}
	for _, r := range res.Rejected {
		if r.Reason != ReasonBadTime && r.Reason != ReasonRecordTooLarge || r.Err == nil || !json.Valid(r.Record) {
			t.Fatalf("rejection %+v", r)
		}
	}
	if _, _, err := Response(ct, len(res.Rejected), res.Message()); err != nil {
		t.Fatal(err)
	}
	again, err := Decode(body, ct, maxBytes, now)
	if err != nil || !reflect.DeepEqual(again.Events, res.Events) || len(again.Rejected) != len(res.Rejected) {
		t.Fatalf("decoding twice differs (%v)", err)
	}
	for i := range res.Rejected {
		a, b := res.Rejected[i], again.Rejected[i]
		if a.Index != b.Index || a.Reason != b.Reason || a.Err.Error() != b.Err.Error() || string(a.Record) != string(b.Record) {
			t.Fatalf("rejection %d differs", i)
		}
	}
}

func FuzzDecodeProto(f *testing.F) {
	for _, s := range seeds(f, ContentTypeProto) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkDecode(t, body, ContentTypeProto) })
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range seeds(f, ContentTypeJSON) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkDecode(t, body, ContentTypeJSON) })
}
