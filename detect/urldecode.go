package detect

import (
	"strings"
	"unicode/utf8"
)

// urldecode(s) undoes URL encoding the way a lenient web server does, so
// that a rule sees what an application behind it sees:
//   - %XX (either case of hex digits) is the byte XX, and + is a space;
//   - %uXXXX (IIS) is the character U+XXXX;
//   - an overlong UTF-8 form of an ASCII character (%c0%ae or
//     %e0%80%ae for ".", once accepted by servers and still used to slip
//     past filters) is that character;
//   - anything else, such as a % without two hex digits, is kept as it is.
//
// It decodes once: apply it twice for double encoding (%252e). The result
// is never longer than s.
func urldecode(s string) string {
	i := strings.IndexAny(s, "%+")
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			b = append(b, ' ')
		case c != '%':
			b = append(b, c)
		case i+5 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') && isHex(s[i+2]) && isHex(s[i+3]) && isHex(s[i+4]) && isHex(s[i+5]):
			r := rune(unhex(s[i+2])<<12 | unhex(s[i+3])<<8 | unhex(s[i+4])<<4 | unhex(s[i+5]))
			b = utf8.AppendRune(b, r) // at most 3 bytes for the 6 read
			i += 5
		case i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			x := unhex(s[i+1])<<4 | unhex(s[i+2])
			if c, n := overlongASCII(s[i:], x); n > 0 {
				b = append(b, c)
				i += n - 1
				continue
			}
			b = append(b, byte(x))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// overlongASCII reads, at s[0] == '%' with byte x, an overlong UTF-8
// form of an ASCII character spelled in escapes: %c0 or %c1 then one
// continuation byte, or %e0 then %80 or %81 then one. It returns the
// character and the length of its spelling, or n == 0.
func overlongASCII(s string, x int) (c byte, n int) {
	cont := func(at int) (int, bool) { // %80-%bf at s[at]
		if at+2 >= len(s) || s[at] != '%' || !isHex(s[at+1]) || !isHex(s[at+2]) {
			return 0, false
		}
		y := unhex(s[at+1])<<4 | unhex(s[at+2])
		return y, y >= 0x80 && y <= 0xbf
	}
	switch x {
	case 0xc0, 0xc1:
		if y, ok := cont(3); ok {
			return byte((x&0x1f)<<6 | y&0x3f), 6
		}
	case 0xe0:
		if y, ok := cont(3); ok && y <= 0x81 {
			if z, ok := cont(6); ok {
				return byte((y&0x3f)<<6 | z&0x3f), 9
			}
		}
	}
	return 0, 0
}

func urldecodeFunc(params ...any) (any, error) {
	s, ok := params[0].(string)
	if !ok {
		return "", nil
	}
	return urldecode(s), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) int {
	switch {
	case c <= '9':
		return int(c - '0')
	case c >= 'a':
		return int(c - 'a' + 10)
	}
	return int(c - 'A' + 10)
}
