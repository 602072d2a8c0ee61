package alert

import (
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Slack's length limits, counted here in UTF-16 code units, which is never
// less than the number of characters however Slack counts them.
const (
	// MaxTextLen is the longest text Slack accepts in one text object
	// (section text, context element); Escape truncates to it.
	MaxTextLen = 3000
	// maxHeaderLen is the limit of a header block's plain_text.
	maxHeaderLen = 150
	// maxFieldLen is the limit of one section field.
	maxFieldLen = 2000
)

const (
	// wordJoiner is inserted after an @ that could start a mention. It is
	// invisible and, unlike a zero-width space, adds no line-break point.
	wordJoiner = "\u2060"
	// ellipsis marks truncated text; it is one UTF-16 unit.
	ellipsis = "…"
)

// specialMentions are the words that, after an @, notify a whole channel
// when Slack parses mentions (link_names, or mrkdwn without verbatim).
var specialMentions = []string{"channel", "here", "everyone", "group"}

// Escape makes s safe to embed in Slack mrkdwn (and plain_text) and keeps it
// within MaxTextLen.
//
// It replaces & < > with &amp; &lt; &gt;, so <!channel>, <!here>, <@U123>
// and <https://evil.example|click> show as text instead of pinging or
// linking. It inserts an invisible word joiner (U+2060) after an @ that
// starts a word (@here, @alice) and after any @channel, @here, @everyone or
// @group, so they cannot be parsed as mentions. Invalid UTF-8 becomes
// U+FFFD. Text longer than MaxTextLen is cut at a character boundary that
// never splits an escape sequence, and ends with "…".
//
// Formatting characters (* _ ~ `) are left alone: they can change how text
// looks but cannot notify anyone or hide a link.
func Escape(s string) string {
	return escapeLimit(s, MaxTextLen)
}

// escapeLimit is Escape with a limit of limit UTF-16 units (limit >= 1).
func escapeLimit(s string, limit int) string {
	if len(s) <= limit && isInert(s) {
		return s
	}
	var b strings.Builder
	b.Grow(min(len(s), 4*limit) + 16)
	units := 0 // UTF-16 units written to b
	cut := -1  // length of b at the last point where units <= limit-1
	prev := ' '
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var piece string
		n := 1
		switch {
		case r == '&':
			piece, n = "&amp;", 5
		case r == '<':
			piece, n = "&lt;", 4
		case r == '>':
			piece, n = "&gt;", 4
		case r == '@' && mentionAhead(prev, s[i+1:]):
			piece, n = "@"+wordJoiner, 2
		case r == utf8.RuneError && size == 1:
			piece = "\uFFFD"
		default:
			piece, n = s[i:i+size], utf16.RuneLen(r)
		}
		if cut < 0 && units+n > limit-1 {
			cut = b.Len()
		}
		if units+n > limit {
			return b.String()[:cut] + ellipsis
		}
		b.WriteString(piece)
		units += n
		prev = r
		i += size
	}
	return b.String()
}

// isInert reports whether s is ASCII without any character Escape changes,
// so that it can be returned as is.
func isInert(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= utf8.RuneSelf, c == '&', c == '<', c == '>', c == '@':
			return false
		}
	}
	return true
}

// mentionAhead reports whether an @ preceded by prev and followed by rest
// could be read as a mention: it starts a word and a name follows, or a
// channel-wide mention word follows whatever precedes it.
func mentionAhead(prev rune, rest string) bool {
	next, _ := utf8.DecodeRuneInString(rest)
	if !isAlnum(next) {
		return false
	}
	if !isNameRune(prev) {
		return true
	}
	for _, w := range specialMentions {
		if len(rest) >= len(w) && strings.EqualFold(rest[:len(w)], w) {
			after, _ := utf8.DecodeRuneInString(rest[len(w):])
			if len(rest) == len(w) || !isAlnum(after) {
				return true
			}
		}
	}
	return false
}

// isAlnum reports whether r is a letter or a digit.
func isAlnum(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// isNameRune reports whether r can precede the @ of an e-mail address
// (alice@example.com), where an @ does not start a mention.
func isNameRune(r rune) bool {
	return isAlnum(r) || r == '_' || r == '.' || r == '-' || r == '+'
}
