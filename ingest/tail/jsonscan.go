package tail

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// These helpers read the top-level members of a JSON object that
// json.Valid accepted, faster than encoding/json decodes it into a struct
// (the hot path: most services log JSON). They match keys as
// encoding/json matches struct fields: case-insensitively, the last
// repeated key winning. They check bounds, so they never panic even on
// input that is not valid.

// eachMember calls fn with the key (unquoted) and the raw value of every
// member of the valid JSON object b.
func eachMember(b []byte, fn func(key, val []byte)) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return
	}
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != '"' {
			return
		}
		ke := skipValid(b, i)
		key := b[i+1 : max(i+1, ke-1)]
		if bytes.IndexByte(key, '\\') >= 0 {
			var s string
			if json.Unmarshal(b[i:ke], &s) != nil {
				return
			}
			key = []byte(s)
		}
		i = skipSpace(b, ke)
		if i >= len(b) || b[i] != ':' {
			return
		}
		i = skipSpace(b, i+1)
		ve := skipValid(b, i)
		if ve <= i {
			return
		}
		fn(key, b[i:ve])
		i = skipSpace(b, ve)
		if i >= len(b) || b[i] != ',' {
			return
		}
		i++
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValid returns the end of the valid JSON value that starts at b[i].
func skipValid(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		return len(b)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			case '"':
				j = skipValid(b, j) - 1
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	return j
}

// stringValue returns the JSON string val unquoted, as encoding/json does
// (invalid UTF-8 becomes U+FFFD); ok is false when val is not a string.
func stringValue(val []byte) (s []byte, ok bool) {
	if len(val) < 2 || val[0] != '"' {
		return nil, false
	}
	in := val[1 : len(val)-1]
	if bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
		return in, true
	}
	var str string
	if json.Unmarshal(val, &str) != nil {
		return nil, false
	}
	return []byte(str), true
}

// numbersFit reports whether every number in the valid JSON value b fits
// a float64, so that decoders downstream (which decode numbers as
// float64) can read it: 1e400 is valid JSON but cannot be decoded.
func numbersFit(b []byte) bool {
	for i := 0; i < len(b); {
		switch c := b[i]; {
		case c == '"':
			i = skipValid(b, i)
		case c == '-' || c >= '0' && c <= '9':
			j := i + 1
			exp := false
			for j < len(b) && (b[j] >= '0' && b[j] <= '9' || b[j] == '.' || b[j] == 'e' || b[j] == 'E' || b[j] == '+' || b[j] == '-') {
				exp = exp || b[j] == 'e' || b[j] == 'E'
				j++
			}
			if exp || j-i > 300 {
				if _, err := strconv.ParseFloat(string(b[i:j]), 64); err != nil {
					return false
				}
			}
			i = j
		default:
			i++
		}
	}
	return true
}
