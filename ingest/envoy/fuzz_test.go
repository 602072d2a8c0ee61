package envoy

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

// FuzzDecode checks, for text lines and JSON records, that Decode never
// panics, that an event it returns is complete (source, id, a JSON
// object as Raw, a time in range) and that decoding is deterministic.
// Each input is decoded by the zero Decoder and by one with ExtraFields.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/envoy/*")
	for _, file := range files {
		if strings.HasSuffix(file, ".golden") {
			continue
		}
		in, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, rec := range records(in) {
			f.Add(rec)
		}
	}
	min := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	max := time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, rec []byte) {
		for _, d := range []Decoder{{}, named} {
			var a, b event.Event
			errA := d.Decode(bytes.Clone(rec), &a)
			errB := d.Decode(bytes.Clone(rec), &b)
			if (errA == nil) != (errB == nil) || errA != nil && errA.Error() != errB.Error() {
				t.Fatalf("not deterministic: %v, then %v", errA, errB)
			}
			if errA != nil {
				continue
			}
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("not deterministic:\n%+v\n%+v", a, b)
			}
			if a.Source != Source || a.EventID == "" {
				t.Fatalf("source %q, event id %q", a.Source, a.EventID)
			}
			if a.Time.Before(min) || !a.Time.Before(max) || a.Time.Location() != time.UTC {
				t.Fatalf("time %v out of range or not UTC", a.Time)
			}
			var obj map[string]any
			if err := json.Unmarshal(a.Raw, &obj); err != nil || obj == nil {
				t.Fatalf("raw is not a JSON object: %v: %s", err, a.Raw)
			}
			if _, err := json.Marshal(a); err != nil {
				t.Fatalf("event does not marshal: %v", err)
			}
		}
	})
}
