package detect

import (
	"errors"
	"unicode/utf8"

	gojson "github.com/goccy/go-json"
)

// A record is decoded once per event, and only as far as the rules that
// may match it need: the top-level fields those rules name. A rule sees
// nothing else (a rule that uses $env gets the whole record), so the
// verdict is the one a full decode would give. The whole record is still
// checked to be valid JSON. github.com/goccy/go-json decodes the values:
// on CloudTrail records it is about twice as fast as encoding/json into
// map[string]any, with the same results (numbers as float64, the last of
// duplicate keys, invalid UTF-8 replaced); decode_test.go checks this.

// decodeAll decodes a whole record into env.
func decodeAll(raw []byte, env *map[string]any) error { return gojson.Unmarshal(raw, env) }

// decodeMembers decodes the members whose names have a bit in mask.
func decodeMembers(raw []byte, members []member, fields map[string]uint64, mask uint64, env map[string]any) error {
	if !gojson.Valid(raw) {
		return errors.New("invalid JSON")
	}
	for _, m := range members {
		if fields[string(m.key)]&mask == 0 {
			continue
		}
		v, err := decodeValue(m.val)
		if err != nil {
			return err
		}
		env[string(m.key)] = v
	}
	return nil
}

// decodeValue decodes one JSON value, taking a shortcut for the plain
// strings and literals that most top-level fields are.
func decodeValue(b []byte) (any, error) {
	switch b[0] {
	case '"':
		s := b[1 : len(b)-1]
		if plainString(s) {
			return string(s), nil
		}
	case 't':
		if string(b) == "true" {
			return true, nil
		}
	case 'f':
		if string(b) == "false" {
			return false, nil
		}
	case 'n':
		if string(b) == "null" {
			return nil, nil
		}
	}
	var v any
	err := gojson.Unmarshal(b, &v)
	return v, err
}

// plainString reports whether the content of a JSON string decodes to
// itself: no escapes, no control characters, valid UTF-8.
func plainString(s []byte) bool {
	for _, c := range s {
		if c < 0x20 || c == '\\' || c >= utf8.RuneSelf {
			if c >= utf8.RuneSelf {
				return utf8.Valid(s) && !hasControlOrEscape(s)
			}
			return false
		}
	}
	return true
}

func hasControlOrEscape(s []byte) bool {
	for _, c := range s {
		if c < 0x20 || c == '\\' {
			return true
		}
	}
	return false
}
