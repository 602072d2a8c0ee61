package alert

import (
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// utf16Len returns the length of s in UTF-16 code units.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

func TestEscape(t *testing.T) {
	const wj = "\u2060"
	cases := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"plain", "root logged in from 10.0.0.1", "root logged in from 10.0.0.1"},
		{"specials", "a & b < c > d", "a &amp; b &lt; c &gt; d"},
		{"already escaped is escaped again", "&amp;&lt;", "&amp;amp;&amp;lt;"},
		{"channel", "<!channel>", "&lt;!channel&gt;"},
		{"here", "<!here>", "&lt;!here&gt;"},
		{"everyone", "<!everyone>", "&lt;!everyone&gt;"},
		{"user mention", "<@U024BE7LH>", "&lt;@" + wj + "U024BE7LH&gt;"},
		{"disguised link", "<https://evil.example|click>", "&lt;https://evil.example|click&gt;"},
		{"channel link", "<#C0123|general>", "&lt;#C0123|general&gt;"},
		{"usergroup", "<!subteam^S0123|@oncall>", "&lt;!subteam^S0123|@" + wj + "oncall&gt;"},
		{"date", "<!date^1392734382^{date}|x>", "&lt;!date^1392734382^{date}|x&gt;"},
		{"bare @here", "ping @here now", "ping @" + wj + "here now"},
		{"bare @channel at start", "@channel", "@" + wj + "channel"},
		{"bare @everyone upper", "@EVERYONE!", "@" + wj + "EVERYONE!"},
		{"bare @group", "(@group)", "(@" + wj + "group)"},
		{"username", "cc @alice", "cc @" + wj + "alice"},
		{"email untouched", "alice@example.com", "alice@example.com"},
		{"email at here", "bob@here.com", "bob@" + wj + "here.com"},
		{"email at heretic", "bob@heretic.com", "bob@heretic.com"},
		{"lone @", "a @ b @", "a @ b @"},
		{"@@here", "@@here", "@@" + wj + "here"},
		{"already joined", "@" + wj + "here", "@" + wj + "here"},
		{"formatting kept", "*bold* _it_ ~s~ `code`", "*bold* _it_ ~s~ `code`"},
		{"unicode kept", "Zoë ✓ 日本 😀", "Zoë ✓ 日本 😀"},
		{"invalid utf8", "a\xffb\xc3", "a\uFFFDb\uFFFD"},
		{"newlines kept", "a\nb\tc", "a\nb\tc"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Escape(tc.in); got != tc.want {
				t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestEscapeTruncates(t *testing.T) {
	rep := strings.Repeat
	cases := []struct {
		name, in, want string
	}{
		{"exactly the limit", rep("a", MaxTextLen), rep("a", MaxTextLen)},
		{"one over", rep("a", MaxTextLen+1), rep("a", MaxTextLen-1) + "…"},
		{"long", rep("abc", 5000), rep("abc", 999) + "ab…"},
		{"escape fits exactly", rep("a", MaxTextLen-4) + "<", rep("a", MaxTextLen-4) + "&lt;"},
		{"escape not split", rep("a", MaxTextLen-2) + "<b", rep("a", MaxTextLen-2) + "…"},
		{"amp not split", rep("a", MaxTextLen-3) + "&&", rep("a", MaxTextLen-3) + "…"},
		{"joiner not split", rep("a", MaxTextLen-2) + " @here", rep("a", MaxTextLen-2) + " …"},
		{"2-byte runes", rep("é", MaxTextLen+1), rep("é", MaxTextLen-1) + "…"},
		{"3-byte runes", rep("日", MaxTextLen+5), rep("日", MaxTextLen-1) + "…"},
		// 😀 is two UTF-16 units: 1500 of them are exactly the limit.
		{"astral runes fit", rep("😀", MaxTextLen/2), rep("😀", MaxTextLen/2)},
		{"astral runes", rep("😀", MaxTextLen/2+1), rep("😀", MaxTextLen/2-1) + "…"},
		{"astral rune not split", "a" + rep("😀", MaxTextLen/2), "a" + rep("😀", MaxTextLen/2-1) + "…"},
		{"all escapes", rep("<", 1000), rep("&lt;", 749) + "…"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Escape(tc.in)
			if got != tc.want {
				t.Errorf("Escape = %q…(%d units), want %q…(%d units)", head(got), utf16Len(got), head(tc.want), utf16Len(tc.want))
			}
			if n := utf16Len(got); n > MaxTextLen {
				t.Errorf("result is %d UTF-16 units, over %d", n, MaxTextLen)
			}
			if !utf8.ValidString(got) {
				t.Errorf("result is not valid UTF-8")
			}
		})
	}
}

// head returns the last few characters of s, for messages.
func head(s string) string {
	if len(s) > 40 {
		return "…" + s[len(s)-40:]
	}
	return s
}

func TestEscapeLimit(t *testing.T) {
	if got := escapeLimit("abcdef", 1); got != "…" {
		t.Errorf("limit 1: %q", got)
	}
	if got := escapeLimit("<<", 5); got != "&lt;…" {
		t.Errorf("limit 5: %q", got)
	}
	if got := escapeLimit("ab", 2); got != "ab" {
		t.Errorf("limit 2: %q", got)
	}
}

// bareAmpersand reports whether s has an & that does not start one of the
// entities Escape writes.
func bareAmpersand(s string) bool {
	for i := range len(s) {
		if s[i] != '&' {
			continue
		}
		rest := s[i:]
		if !strings.HasPrefix(rest, "&amp;") && !strings.HasPrefix(rest, "&lt;") && !strings.HasPrefix(rest, "&gt;") {
			return true
		}
	}
	return false
}

// activeMention returns the first @channel, @here, @everyone or @group in s
// (any case) that is followed by neither a letter nor a digit, so that
// Slack could parse it; "" if there is none. Fuzz targets avoid regexp:
// its instrumented internals would report spurious new coverage.
func activeMention(s string) string {
	for i := strings.IndexByte(s, '@'); i >= 0; {
		rest := s[i+1:]
		for _, w := range specialMentions {
			if len(rest) >= len(w) && strings.EqualFold(rest[:len(w)], w) {
				if after, _ := utf8.DecodeRuneInString(rest[len(w):]); len(rest) == len(w) || !isAlnum(after) {
					return s[i : i+1+len(w)]
				}
			}
		}
		j := strings.IndexByte(rest, '@')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return ""
}

// unescape undoes Escape, apart from truncation, dropping word joiners.
var unescape = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&", "\u2060", "")

// FuzzEscape checks Escape, and escapeLimit with small limits so that
// truncation is exercised on short inputs too.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{
		"", "plain", "<!channel>", "<@U024BE7LH>", "<https://evil.example|click>", "@here", "x@here",
		"&amp;", "a\xffb", "😀😀", "é@here <@U1> & @everyone", "@\u2060here", "ſ@HERE", "\u200b@everyone",
	} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(7))
	}
	f.Fuzz(func(t *testing.T, s string, small uint8) {
		checkEscaped(t, s, Escape(s), MaxTextLen)
		limit := 1 + int(small%32)
		checkEscaped(t, s, escapeLimit(s, limit), limit)
	})
}

// checkEscaped checks the properties of out, the escaping of s within
// limit UTF-16 units.
func checkEscaped(t *testing.T, s, out string, limit int) {
	t.Helper()
	if strings.ContainsAny(out, "<>") {
		t.Fatalf("escape(%q, %d) = %q contains < or >", s, limit, out)
	}
	if !utf8.ValidString(out) {
		t.Fatalf("escape(%q, %d) = %q is not valid UTF-8", s, limit, out)
	}
	if n := utf16Len(out); n > limit {
		t.Fatalf("escape(%q, %d) = %q is %d UTF-16 units", s, limit, out, n)
	}
	if bareAmpersand(out) {
		t.Fatalf("escape(%q, %d) = %q has a bare &", s, limit, out)
	}
	if m := activeMention(out); m != "" {
		t.Fatalf("escape(%q, %d) = %q has active mention %q", s, limit, out, m)
	}
	if !utf8.ValidString(s) {
		return
	}
	// Undoing the escaping gives back s, or a prefix of it when truncated
	// (compared without word joiners, which Escape adds).
	back := unescape.Replace(out)
	orig := strings.ReplaceAll(s, "\u2060", "")
	if back == orig {
		return
	}
	cut, ok := strings.CutSuffix(back, "…")
	if !ok || !strings.HasPrefix(orig, cut) {
		t.Fatalf("escape(%q, %d) = %q is neither s nor a truncation of it", s, limit, out)
	}
}

func BenchmarkEscape(b *testing.B) {
	in := "deploy by <!channel> <@U024BE7LH> see <https://evil.example|click> @here from arn:aws:iam::123456789012:user/mallory"
	b.ReportAllocs()
	for b.Loop() {
		_ = Escape(in)
	}
}
