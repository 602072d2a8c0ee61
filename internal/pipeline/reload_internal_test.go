package pipeline

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tripline/tripline/internal/config"
)

func ruleFile(id, when string) string {
	return "id: " + id + "\ntitle: T\nseverity: low\nsource: cloudtrail\nwhen: " + when + "\n"
}

func newTestRules(t *testing.T, paths ...string) *Rules {
	t.Helper()
	return NewRules(config.Rules{Paths: paths}, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// TestReloadKeepsRulesOfUnreadableFiles: a reload whose errors name no
// rule (a file too large, a directory gone) removes nothing; a rule whose
// own error is known keeps its previous version; a clean reload removes a
// deleted rule.
func TestReloadKeepsRulesOfUnreadableFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", ruleFile("r-a", `eventName == "A"`))
	write("b.yaml", ruleFile("r-b", `eventName == "B"`))
	r := newTestRules(t, dir)
	ids := func() string {
		var out []string
		for _, rule := range r.Engine().Rules() {
			out = append(out, rule.ID+"@"+rule.When)
		}
		return strings.Join(out, ",")
	}
	want := ids()

	write("a.yaml", strings.Repeat("#", 2<<20)) // too large: no rule named
	if res := r.Reload(); len(res.Failed) != 1 || len(res.Removed) != 0 || ids() != want {
		t.Fatalf("oversized file: %+v, rules %s", res, ids())
	}
	write("a.yaml", ruleFile("r-a", `eventName == `)) // r-a's own error
	write("b.yaml", ruleFile("r-b", `eventName == "B2"`))
	res := r.Reload()
	if len(res.Failed) != 1 || strings.Join(res.Changed, ",") != "r-b" || !strings.Contains(ids(), `r-a@eventName == "A"`) {
		t.Fatalf("broken r-a: %+v, rules %s", res, ids())
	}
	if err := os.Remove(filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	if res := r.Reload(); len(res.Failed) != 0 || strings.Join(res.Removed, ",") != "r-a" {
		t.Fatalf("deleted r-a: %+v", res)
	}
	gone := r.Generation()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if res := r.Reload(); len(res.Failed) == 0 || len(res.Removed) != 0 || r.Generation() != gone {
		t.Fatalf("directory gone: %+v", res)
	}
}

// TestFingerprint: the watcher sees edits through a symlinked directory
// and ignores files the loader does not read.
func TestFingerprint(t *testing.T) {
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "rules")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(real, "a.yaml"), []byte(ruleFile("r-a", `eventName == "A"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newTestRules(t, link)
	fp := r.fingerprint()
	if err := os.WriteFile(filepath.Join(real, "notes.txt"), []byte("not a rule"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r.fingerprint() != fp {
		t.Error("a file the loader does not read changed the fingerprint")
	}
	if err := os.WriteFile(filepath.Join(real, "a.yaml"), []byte(ruleFile("r-a", `eventName == "B"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	if r.fingerprint() == fp {
		t.Error("an edit through the symlinked directory did not change the fingerprint")
	}
}

// TestReloadEndpointAuth: beyond loopback the endpoint needs the token,
// and without one configured it refuses.
func TestReloadEndpointAuth(t *testing.T) {
	r := newTestRules(t)
	for _, tt := range []struct {
		token    string
		loopback bool
		auth     string
		want     int
	}{
		{"", true, "", http.StatusOK},
		{"", false, "", http.StatusForbidden},
		{"s3cret", false, "", http.StatusUnauthorized},
		{"s3cret", false, "Bearer wrong", http.StatusUnauthorized},
		{"s3cret", false, "Bearer s3cret", http.StatusOK},
	} {
		req := httptest.NewRequest(http.MethodPost, "/v1/rules/reload", nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		w := httptest.NewRecorder()
		r.reloadHandler(tt.token, tt.loopback)(w, req)
		if w.Code != tt.want {
			t.Errorf("token %q loopback %v auth %q: %d, want %d", tt.token, tt.loopback, tt.auth, w.Code, tt.want)
		}
	}
}
