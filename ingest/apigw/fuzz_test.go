package apigw

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/event"
)

// FuzzDecode: no record panics or hangs the decoder; a decoded event has
// a source, an id, a storable time and a JSON object as Raw; decoding is
// deterministic. mode picks Decode with the default keys, Decode with a
// custom key map, or DecodeMessage in an execution or access log group.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/apigateway/*.log")
	for _, in := range files {
		body, _ := os.ReadFile(in)
		for line := range strings.SplitSeq(string(body), "\n") {
			for mode := range byte(4) {
				f.Add([]byte(line), mode)
			}
		}
	}
	custom := Config{KeyMap: map[string]string{"request_id": "reqId", "time": "ts", "method": "http.method",
		"status_code": "http.status.code", "actor": "who.sub"}}
	ts := time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, rec []byte, mode byte) {
		dec := testDecoder(Config{})
		if mode%4 == 1 {
			dec.Config = custom
		}
		decode := func(ev *event.Event) error {
			switch mode % 4 {
			case 2:
				return dec.DecodeMessage(string(rec), "API-Gateway-Execution-Logs_abc/prod", ts, ev)
			case 3:
				return dec.DecodeMessage(string(rec), "/aws/apigateway/abc", ts, ev)
			}
			return dec.Decode(rec, ev)
		}
		_ = dec.Looks(rec)
		var ev event.Event
		err := decode(&ev)
		if err != nil {
			return
		}
		if ev.Source != Source || ev.EventID == "" {
			t.Fatalf("event without source or id from %q: %+v", rec, ev)
		}
		if !inRange(ev.Time) || ev.Time.Location() != time.UTC {
			t.Fatalf("time %v out of range from %q", ev.Time, rec)
		}
		if r := bytes.TrimSpace(ev.Raw); len(r) == 0 || r[0] != '{' || !json.Valid(r) {
			t.Fatalf("raw %q is not a JSON object (from %q)", ev.Raw, rec)
		}
		var again event.Event
		if err := decode(&again); err != nil || !reflect.DeepEqual(ev, again) {
			t.Fatalf("second decode of %q differs: %v\n%+v\n%+v", rec, err, ev, again)
		}
	})
}
