package detect

import (
	"strings"
	"testing"

	"github.com/expr-lang/expr/vm"
)

func TestSummaryRender(t *testing.T) {
	env := map[string]any{
		"eventName": "StopLogging",
		"errorCode": "",
		"requestParameters": map[string]any{
			"name":  "audit",
			"port":  float64(22),
			"ratio": 0.5,
			"list":  []any{"a", float64(1)},
			"ok":    true,
			"text":  "<!channel> line1\nline2\ttab",
			"long":  strings.Repeat("x", 1000),
		},
	}
	tests := []struct{ tmpl, want string }{
		{"plain text", "plain text"},
		{"{{ eventName }} on {{ requestParameters.name }}", "StopLogging on audit"},
		{"[{{ requestParameters.missing }}] [{{ errorCode }}] [{{ requestParameters.missing.deeper }}]", "[-] [-] [-]"},
		{"{{ requestParameters.port }} {{ requestParameters.ratio }} {{ requestParameters.ok }}", "22 0.5 true"},
		{"{{ requestParameters.list }}", `["a",1]`},
		{"{{ requestParameters.text }}", "<!channel> line1 line2 tab"},
		{"{{ requestParameters.port + 1 }}", "23"},
		{"{{ errorCode == \"\" ? \"ok\" : errorCode }}", "ok"},
		{"{{ requestParameters.long }}", strings.Repeat("x", MaxSummaryValueLen-3) + "…"},
		{"é{{ 1 }}}} {", "é1}} {"},
	}
	var m vm.VM
	for _, tt := range tests {
		tp, err := compileTemplate(tt.tmpl, cloudTrailSchema)
		if err != nil {
			t.Errorf("%q: %v", tt.tmpl, err)
			continue
		}
		got, err := tp.render(&m, env)
		if err != nil || got != tt.want {
			t.Errorf("%q: got %q (%v), want %q", tt.tmpl, got, err, tt.want)
		}
	}
}

func TestSummaryCapAndErrors(t *testing.T) {
	var m vm.VM
	long := strings.Repeat("é", MaxSummaryLen)
	tp, err := compileTemplate(long+"{{ eventName }}", cloudTrailSchema)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := tp.render(&m, map[string]any{"eventName": "x"})
	if len(got) > MaxSummaryLen || !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "éé") {
		t.Errorf("cap: %d bytes %q", len(got), got[len(got)-10:])
	}
	tp, err = compileTemplate("a {{ requestParameters.items[3] }} b", cloudTrailSchema)
	if err != nil {
		t.Fatal(err)
	}
	got, err = tp.render(&m, map[string]any{"requestParameters": map[string]any{"items": []any{}}})
	if got != "a ? b" || err == nil {
		t.Errorf("runtime error: %q %v", got, err)
	}
	for _, bad := range []string{"{{ }}", "{{ x", "{{ 1 +  }}"} {
		if _, err := compileTemplate(bad, cloudTrailSchema); err == nil {
			t.Errorf("%q compiled", bad)
		}
	}
}
