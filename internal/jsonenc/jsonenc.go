// Package jsonenc appends text to a buffer as a JSON string literal,
// byte for byte as encoding/json writes a string with HTML escaping off
// (json.Encoder.SetEscapeHTML(false)):
//
//   - '"' and '\\' are escaped with a backslash; \b, \f, \n, \r and \t
//     use their short escapes and the other bytes below 0x20 \u00XX;
//   - '<', '>' and '&' are written as they are;
//   - U+2028 and U+2029 are escaped (\u2028, \u2029), as JSONP needs;
//   - each byte that is not part of valid UTF-8 becomes \ufffd, so a run
//     of n invalid bytes becomes n replacement characters (unlike
//     strings.ToValidUTF8, which writes one for the run).
//
// The result is always valid JSON in valid UTF-8.
package jsonenc

import "unicode/utf8"

// AppendString appends s to b as a JSON string literal.
func AppendString(b []byte, s string) []byte { return appendString(b, s) }

// AppendBytes appends s to b as a JSON string literal, as AppendString
// does with string(s) but without the copy.
func AppendBytes(b, s []byte) []byte { return appendString(b, s) }

const hex = "0123456789abcdef"

// safe marks the bytes a JSON string holds as they are.
var safe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func appendString[T string | []byte](b []byte, s T) []byte {
	b = append(b, '"')
	start := 0 // s[start:i] is to be copied as it is
	for i := 0; i < len(s); {
		c := s[i]
		if safe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		// At most utf8.UTFMax bytes: converting a []byte copies them to
		// the stack; a string is not copied.
		r, size := utf8.DecodeRuneInString(string(s[i:min(len(s), i+utf8.UTFMax)]))
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
