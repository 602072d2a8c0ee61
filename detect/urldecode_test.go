package detect

import (
	"net/url"
	"strings"
	"testing"
)

func TestURLDecode(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/files/..%2F..%2fetc%2Fpasswd", "/files/../../etc/passwd"},
		{"q=1+or+1%3D1", "q=1 or 1=1"},
		{"%252e%252e%252f", "%2e%2e%2f"},
		{"%c0%ae%c0%ae%c0%af", "../"},
		{"%C1%9C", "\\"},
		{"%e0%80%ae%E0%80%AF", "./"},
		{"%e0%82%ae", "\xe0\x82\xae"},
		{"%c0%2e", "\xc0."},
		{"%u002e%u002E%u2215", ".." + "\u2215"},
		{"100%", "100%"},
		{"%zz%4", "%zz%4"},
		{"%e2%82%ac", "€"},
		{"plain/path", "plain/path"},
		{"", ""},
	} {
		if got := urldecode(tt.in); got != tt.want {
			t.Errorf("urldecode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzURLDecode: the result is never longer than the input, and wherever
// the standard library accepts the whole string (no %u, no overlong
// forms), both decode alike.
func FuzzURLDecode(f *testing.F) {
	for _, s := range []string{"%2e%2E+x", "%c0%ae", "%u002e", "%", "a%2", "%%41"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := urldecode(s)
		if len(got) > len(s) {
			t.Fatalf("urldecode(%q) = %q is longer", s, got)
		}
		if strings.ContainsAny(strings.ToLower(s), "u") || strings.Contains(strings.ToLower(s), "%c0") || strings.Contains(strings.ToLower(s), "%c1") {
			return
		}
		if want, err := url.QueryUnescape(s); err == nil && got != want {
			t.Fatalf("urldecode(%q) = %q, net/url says %q", s, got, want)
		}
	})
}
