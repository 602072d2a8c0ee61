package azurelog

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/golden"
)

// TestGolden decodes every line of testdata/azure/*.ndjson (one record per
// line) and compares the events, or errors, with the .golden file beside
// it.
func TestGolden(t *testing.T) {
	golden.Files(t, "testdata/azure/*.ndjson", func(_ *testing.T, body []byte) []byte {
		return golden.Lines(body, Decoder{}.Decode)
	})
}

// TestPropertiesString: a record whose properties is a JSON string holding
// an object decodes like the same record with the object, and its Raw has
// the object.
func TestPropertiesString(t *testing.T) {
	obj := `{"time":"2023-05-23T20:11:59Z","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.WEB/SITES/APP",` +
		`"category":"FunctionAppLogs","properties":{"appName":"app","functionName":"Functions.f","message":"a<b","levelId":4}}`
	str := `{"time":"2023-05-23T20:11:59Z","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.WEB/SITES/APP",` +
		`"category":"FunctionAppLogs","properties":"{\"appName\":\"app\",\"functionName\":\"Functions.f\",\"message\":\"a<b\",\"levelId\":4}"}`
	var a, b event.Event
	if err := (Decoder{}).Decode([]byte(obj), &a); err != nil {
		t.Fatal(err)
	}
	if err := (Decoder{}).Decode([]byte(str), &b); err != nil {
		t.Fatal(err)
	}
	var ra, rb any
	if err := json.Unmarshal(a.Raw, &ra); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b.Raw, &rb); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ra, rb) {
		t.Errorf("Raw from string properties\n%s\ndiffers from\n%s", b.Raw, a.Raw)
	}
	if bytes.Contains(b.Raw, []byte(`\u003c`)) {
		t.Errorf("Raw %s is HTML-escaped", b.Raw)
	}
	if a.EventID == b.EventID {
		t.Error("different records, same id")
	}
	a.Raw, b.Raw, a.EventID, b.EventID = nil, nil, "", ""
	if !reflect.DeepEqual(a, b) {
		t.Errorf("event from string properties\n%+v\ndiffers from\n%+v", b, a)
	}
}

func TestHelpers(t *testing.T) {
	for id, want := range map[string][2]string{
		"/SUBSCRIPTIONS/12CABCB4-86E8/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.WEB/SITES/TEST-FUNCTION": {"12cabcb4-86e8", "test-function"},
		"/subscriptions/abc/resourceGroups/rg/providers/Microsoft.Web/sites/app/slots/staging":       {"abc", "app"},
		"/tenants/T/providers/Microsoft.aadiam":                                                      {"", ""},
		"/SUBSCRIPTIONS/S":                                                                           {"s", ""},
		"":                                                                                           {"", ""},
		"/SUBSCRIPTIONS/S/PROVIDERS/MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS":                                         {"s", ""},
		"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.STORAGE/STORAGEACCOUNTS/ACCT/BLOBSERVICES/DEFAULT": {"s", "acct"},
	} {
		if sub, name := parseResourceID(id); sub != want[0] || name != want[1] {
			t.Errorf("parseResourceID(%q) = %q, %q, want %q, %q", id, sub, name, want[0], want[1])
		}
	}
	for in, want := range map[string]struct {
		outcome string
		ms      float64
	}{
		"Executed 'Functions.hello' (Succeeded, Id=x, Duration=25ms)": {event.OutcomeSuccess, 25},
		"Executed Functions.hello (Failed, Id=x, Duration=16ms)":      {event.OutcomeFailure, 16},
		"Executed 'Functions.hello' (Succeeded, Id=x)":                {event.OutcomeSuccess, 0},
		"Executed 'F' (Succeeded, Duration=NaNms)":                    {event.OutcomeSuccess, 0},
		"Executing 'Functions.hello' (Reason=...)":                    {"", 0},
		"Executed something else":                                     {"", 0},
	} {
		if o, ms := executed(in); o != want.outcome || ms != want.ms {
			t.Errorf("executed(%q) = %q, %v, want %q, %v", in, o, ms, want.outcome, want.ms)
		}
	}
	for in, want := range map[string]string{"1.2.3.4:80": "1.2.3.4", "[::1]:443": "::1", "::1": "::1", "<Redacted>": "<Redacted>", "": ""} {
		if got := hostIP(in); got != want {
			t.Errorf("hostIP(%q) = %q, want %q", in, got, want)
		}
	}
	claims := map[string]json.RawMessage{
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": json.RawMessage(`"b@x"`),
		"urn:other/upn": json.RawMessage(`"a@x"`),
		"appid":         json.RawMessage(`"app"`),
	}
	for range 20 { // map order must not matter
		if got := actor(claims); got != "b@x" {
			t.Fatalf("actor = %q, want b@x (smallest matching key)", got)
		}
	}
	if got := actor(map[string]json.RawMessage{"upn": json.RawMessage(`5`), "appid": json.RawMessage(`"app"`)}); got != "5" {
		t.Errorf("actor with numeric upn = %q", got)
	}
	if region("East US 2") != "eastus2" || region("") != "" {
		t.Error("region")
	}
}

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/azure/*.ndjson")
	for _, in := range files {
		body, _ := os.ReadFile(in)
		for line := range bytes.SplitSeq(body, []byte("\n")) {
			if len(line) > 0 {
				f.Add(line)
			}
		}
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		var ev event.Event
		if err := (Decoder{}).Decode(rec, &ev); err != nil {
			return
		}
		if ev.Source != Source || ev.EventID == "" {
			t.Fatalf("no source or id from %q", rec)
		}
		if ev.Time.Before(minTime) || !ev.Time.Before(maxTime) || ev.Time.Location() != time.UTC {
			t.Fatalf("time %v out of range or not UTC from %q", ev.Time, rec)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(ev.Raw, &obj); err != nil {
			t.Fatalf("Raw %q is not a JSON object: %v", ev.Raw, err)
		}
		var again event.Event
		if err := (Decoder{}).Decode(rec, &again); err != nil || !reflect.DeepEqual(ev, again) {
			t.Fatalf("not deterministic on %q: %v", rec, err)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	lines := func(name string) [][]byte {
		body, err := os.ReadFile("testdata/azure/" + name)
		if err != nil {
			b.Fatal(err)
		}
		return bytes.Split(bytes.TrimSpace(body), []byte("\n"))
	}
	fn := lines("functionapplogs.ndjson")
	http := lines("appservicehttplogs.ndjson")
	generic := lines("generic.ndjson")
	for _, bc := range []struct {
		name string
		rec  []byte
	}{
		{"functionapplogs", fn[0]},
		{"httplogs", http[0]},
		{"httplogs-string-properties", http[1]},
		{"keyvault", generic[0]},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.rec)))
			b.ReportAllocs()
			var ev event.Event
			for b.Loop() {
				if err := (Decoder{}).Decode(bc.rec, &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
