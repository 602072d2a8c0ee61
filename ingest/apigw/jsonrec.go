package apigw

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// keyRef is a default key: the role it holds and its rank among the
// role's default keys (lower wins).
type keyRef struct {
	role role
	rank int
	key  string
}

var (
	// literalKeys are the default keys as top-level keys, dotted ones
	// included ({"error.message": ...}).
	literalKeys = map[string]keyRef{}
	// nestedKeys are the dotted default keys as paths, by their first
	// segment ({"error": {"message": ...}}).
	nestedKeys = map[string]map[string]keyRef{}
	// roleIndex finds a role by its KeyMap name.
	roleIndex = map[string]role{}
)

func init() {
	for r := range numRoles {
		roleIndex[roleNames[r]] = r
		for i, k := range defaultKeys[r] {
			ref := keyRef{role: r, rank: i, key: k}
			literalKeys[k] = ref
			if first, rest, ok := strings.Cut(k, "."); ok {
				if nestedKeys[first] == nil {
					nestedKeys[first] = map[string]keyRef{}
				}
				nestedKeys[first][rest] = ref
			}
		}
	}
}

// resolveJSON fills f from the JSON object obj, which must be valid JSON.
// For each role the KeyMap key, else the first default key with a value
// wins; a key that appears twice counts with its last value, as
// encoding/json decodes it. It reads obj in one pass, without decoding
// values that no role uses.
func (d Decoder) resolveJSON(obj []byte, f *fields) {
	var (
		over    [numRoles]string
		hasOver [numRoles]bool
		win     [numRoles][]byte
		winRef  [numRoles]keyRef // rank -1: none yet
	)
	for r := range winRef {
		winRef[r].rank = -1
	}
	for name, k := range d.Config.KeyMap {
		if r, ok := roleIndex[name]; ok {
			over[r], hasOver[r] = k, true
		}
	}
	consider := func(ref keyRef, val []byte) {
		if hasOver[ref.role] {
			return
		}
		f.found = true
		if !hasValue(val) {
			return
		}
		if w := winRef[ref.role]; w.rank < 0 || ref.rank <= w.rank {
			win[ref.role], winRef[ref.role] = val, ref
		}
	}
	scanObject(obj, func(k, v []byte) {
		if ref, ok := literalKeys[string(k)]; ok {
			consider(ref, v)
		}
		if sub, ok := nestedKeys[string(k)]; ok && len(v) > 0 && v[0] == '{' {
			scanObject(v, func(k2, v2 []byte) {
				if ref, ok := sub[string(k2)]; ok {
					consider(ref, v2)
				}
			})
		}
	})
	for r := range numRoles {
		if hasOver[r] {
			if v, ok := lookupPath(obj, over[r]); ok {
				f.found = true
				if hasValue(v) {
					f.val[r], f.key[r] = strings.TrimSpace(jsonString(v)), over[r]
				}
			}
			continue
		}
		if winRef[r].rank >= 0 {
			f.val[r], f.key[r] = strings.TrimSpace(jsonString(win[r])), winRef[r].key
		}
	}
}

// lookupPath returns the value of key in obj, or of the dotted key as a
// path through nested objects ("identity.sourceIp").
func lookupPath(obj []byte, key string) ([]byte, bool) {
	var val []byte
	found := false
	scanObject(obj, func(k, v []byte) {
		if string(k) == key {
			val, found = v, true
		}
	})
	if found {
		return val, true
	}
	for i := strings.IndexByte(key, '.'); i > 0; {
		first := key[:i]
		scanObject(obj, func(k, v []byte) {
			if string(k) == first && len(v) > 0 && v[0] == '{' {
				val, found = v, true
			}
		})
		if found {
			if v, ok := lookupPath(val, key[i+1:]); ok {
				return v, true
			}
			found = false
		}
		j := strings.IndexByte(key[i+1:], '.')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return nil, false
}

// hasValue reports whether a JSON value is a field value: not null, an
// object or an array, and not a string that is empty or "-" (API
// Gateway's empty value).
func hasValue(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	switch v[0] {
	case 'n', '{', '[':
		return false
	case '"':
		s := bytes.TrimSpace(v[1 : len(v)-1])
		return len(s) > 0 && !(len(s) == 1 && s[0] == '-')
	}
	return true
}

// jsonString renders a JSON value as text: a string unquoted, anything
// else as its JSON text.
func jsonString(v []byte) string {
	if len(v) < 2 || v[0] != '"' {
		return string(v)
	}
	if s := v[1 : len(v)-1]; bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		return string(s)
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return ""
	}
	return s
}

// scanObject calls fn with each key (as written, escapes not decoded) and
// raw value of the JSON object b, and reports whether b is shaped as an
// object. It checks structure, not every literal: use it on valid JSON,
// or where a wrong guess is harmless (Looks).
func scanObject(b []byte, fn func(key, val []byte)) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		end := skipString(b, i)
		if end < 0 {
			return false
		}
		key := b[i+1 : end-1]
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		start := skipSpace(b, i+1)
		i = skipValue(b, start)
		if i < 0 {
			return false
		}
		fn(key, b[start:i])
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return skipSpace(b, i+1) == len(b)
		default:
			return false
		}
	}
}
