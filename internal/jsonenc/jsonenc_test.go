package jsonenc

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppendString(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`quote " back \ slash /`, `"quote \" back \\ slash /"`},
		{"\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"\x00\x01\x1f \x7f", `"\u0000\u0001\u001f ` + "\x7f" + `"`},
		{"<script>&amp;</script>", `"<script>&amp;</script>"`},
		{"日本語 🚀 é", `"日本語 🚀 é"`},
		{"a\u2028b\u2029c", `"a\u2028b\u2029c"`},
		// Each invalid byte becomes one U+FFFD.
		{"bad \xff\xfe utf8 \xe2\x82", `"bad \ufffd\ufffd utf8 \ufffd\ufffd"`},
		{"\xed\xa0\x80 surrogate", `"\ufffd\ufffd\ufffd surrogate"`},
		{"\xc0\x80 overlong", `"\ufffd\ufffd overlong"`},
		{"\xf4\x90\x80\x80 too big", `"\ufffd\ufffd\ufffd\ufffd too big"`},
		{"end \xf0\x9f\x9a", `"end \ufffd\ufffd\ufffd"`},
		{"\ufffd is valid", `"` + "\ufffd" + ` is valid"`},
	} {
		if got := string(AppendString(nil, tt.in)); got != tt.want {
			t.Errorf("AppendString(%q) = %s, want %s", tt.in, got, tt.want)
		}
		if got := string(AppendBytes(nil, []byte(tt.in))); got != tt.want {
			t.Errorf("AppendBytes(%q) = %s, want %s", tt.in, got, tt.want)
		}
		check(t, tt.in)
	}
}

// TestAppend: the result goes after what b holds.
func TestAppend(t *testing.T) {
	b := append(make([]byte, 0, 64), `{"k":`...)
	b = AppendString(b, "v\n")
	b = append(b, `,"l":`...)
	b = AppendBytes(b, []byte("w"))
	if got, want := string(b), `{"k":"v\n","l":"w"`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestAllocs(t *testing.T) {
	b := make([]byte, 0, 256)
	s := "héllo \xff \u2028 \"wörld\"\n"
	bs := []byte(s)
	if n := testing.AllocsPerRun(100, func() { AppendString(b, s) }); n != 0 {
		t.Errorf("AppendString: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { AppendBytes(b, bs) }); n != 0 {
		t.Errorf("AppendBytes: %v allocations", n)
	}
}

// check tests the properties of the encoding of s: valid JSON that
// decodes to s with each invalid byte replaced by U+FFFD, the same bytes
// as encoding/json with HTML escaping off, the same for string and
// []byte.
func check(t *testing.T, s string) {
	t.Helper()
	prefix := []byte("x")
	got := AppendString(prefix, s)
	if got[0] != 'x' {
		t.Fatalf("%q: prefix lost: %s", s, got)
	}
	got = got[1:]
	if !json.Valid(got) || !utf8.Valid(got) {
		t.Fatalf("%q encodes to invalid JSON %q", s, got)
	}
	var dec string
	if err := json.Unmarshal(got, &dec); err != nil {
		t.Fatalf("%q: %s: %v", s, got, err)
	}
	if want := validPerByte(s); dec != want {
		t.Fatalf("%q decodes to %q, want %q", s, dec, want)
	}
	if utf8.ValidString(s) && dec != s {
		t.Fatalf("valid %q decodes to %q", s, dec)
	}
	// Runs of U+FFFD collapsed, that is strings.ToValidUTF8 (unless s held
	// U+FFFD itself, which may then merge with a replacement).
	if want := strings.ToValidUTF8(s, "\uFFFD"); !strings.Contains(s, "\uFFFD") && collapse(dec) != want {
		t.Fatalf("%q decodes to %q, which is not %q with runs of U+FFFD collapsed", s, dec, want)
	}
	var enc bytes.Buffer
	e := json.NewEncoder(&enc)
	e.SetEscapeHTML(false)
	if err := e.Encode(s); err != nil {
		t.Fatal(err)
	}
	if want := bytes.TrimSuffix(enc.Bytes(), []byte{'\n'}); !bytes.Equal(got, want) {
		t.Fatalf("%q: got %s, encoding/json writes %s", s, got, want)
	}
	if gb := AppendBytes(nil, []byte(s)); !bytes.Equal(gb, got) {
		t.Fatalf("%q: AppendBytes %s, AppendString %s", s, gb, got)
	}
}

// validPerByte is strings.ToValidUTF8(s, "\uFFFD") with one U+FFFD per
// invalid byte rather than per run: ranging over a string yields
// utf8.RuneError for each byte that does not start valid UTF-8.
func validPerByte(s string) string {
	var sb strings.Builder
	for _, r := range s {
		sb.WriteRune(r)
	}
	return sb.String()
}

// collapse replaces each run of U+FFFD in s by one.
func collapse(s string) string {
	for strings.Contains(s, "\uFFFD\uFFFD") {
		s = strings.ReplaceAll(s, "\uFFFD\uFFFD", "\uFFFD")
	}
	return s
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{
		"", "plain", `"\/`, "\x00\x08\x0c\x1f\x7f", "<>&", "日本語 🚀",
		"\u2028\u2029", "\xff", "bad \xff\xfe \xe2\x82", "\xed\xa0\x80", "\ufffd",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// The encoder has no state beyond a rune; long inputs only make
		// the fuzzer's minimizing of them (quadratic) stall the run.
		if len(s) > 256 {
			s = s[:256]
		}
		check(t, s)
	})
}
