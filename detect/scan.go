package detect

import (
	"bytes"
	"slices"
	"unicode/utf8"
	"unsafe"
)

// scanKind classifies the raw value of one field path.
type scanKind uint8

const (
	scanAbsent  scanKind = iota // no such field (or a parent is not an object)
	scanString                  // a string without escapes: b holds it
	scanTrue                    // true
	scanFalse                   // false
	scanOther                   // null, a number, an object or an array
	scanUnknown                 // cannot tell without decoding
)

// scanValue is what scanRecord learnt about one field path.
type scanValue struct {
	kind scanKind
	s    string // the string, its bytes inside the record (read only)
}

// scanNode is a field path tree: the fields of one object level that some
// constraint reads.
type scanNode struct {
	key      string
	slot     int // index into the values slice, or -1
	children []*scanNode
}

// add inserts path, returning its slot.
func (n *scanNode) add(path []string, next *int) int {
	for _, c := range n.children {
		if c.key == path[0] {
			return c.addRest(path[1:], next)
		}
	}
	c := &scanNode{key: path[0], slot: -1}
	n.children = append(n.children, c)
	return c.addRest(path[1:], next)
}

func (n *scanNode) addRest(rest []string, next *int) int {
	if len(rest) > 0 {
		return n.add(rest, next)
	}
	if n.slot < 0 {
		n.slot = *next
		*next++
	}
	return n.slot
}

func (n *scanNode) child(key []byte) *scanNode {
	for _, c := range n.children {
		if c.key == string(key) {
			return c
		}
	}
	return nil
}

func (n *scanNode) reset(vals []scanValue, k scanKind) {
	for _, c := range n.children {
		if c.slot >= 0 {
			vals[c.slot] = scanValue{kind: k}
		}
		c.reset(vals, k)
	}
}

// member is one top-level key and its raw value, inside the record.
type member struct {
	key, val []byte
}

// scanRecord reads the fields of root's tree from a raw JSON record
// without decoding it, with the semantics of a full decode into
// map[string]any: the last of duplicate keys wins. It also returns the
// record's top-level members, appended to members[:0]. It reports false,
// and sets every value to scanUnknown, when the record is not a
// well-formed JSON object or has a key with escapes or invalid UTF-8
// (which the decoder would rewrite).
func scanRecord(raw []byte, root *scanNode, vals []scanValue, members []member) ([]member, bool) {
	root.reset(vals, scanAbsent)
	members = members[:0]
	i := skipWS(raw, 0)
	ok := i < len(raw) && raw[i] == '{'
	if ok {
		i, ok = scanObject(raw, i, root, vals, &members)
	}
	if ok && skipWS(raw, i) != len(raw) {
		ok = false
	}
	if !ok {
		root.reset(vals, scanUnknown)
	}
	return members, ok
}

// scanObject scans the object at raw[i] == '{' and returns the index after
// it. It appends the object's members to *members when members is not nil.
func scanObject(raw []byte, i int, node *scanNode, vals []scanValue, members *[]member) (int, bool) {
	i = skipWS(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(raw) || raw[i] != '"' {
			return 0, false
		}
		end, esc, ok := stringEnd(raw, i)
		if !ok || esc {
			return 0, false
		}
		key := raw[i+1 : end-1]
		if !utf8.Valid(key) {
			return 0, false // decodes with U+FFFD in place of the bad bytes
		}
		i = skipWS(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return 0, false
		}
		i = skipWS(raw, i+1)
		if i >= len(raw) {
			return 0, false
		}
		start := i
		if i, ok = skipValue(raw, i); !ok {
			return 0, false
		}
		if members != nil {
			*members = append(*members, member{key: key, val: raw[start:i]})
		}
		if c := node.child(key); c != nil {
			if c.slot >= 0 {
				vals[c.slot] = classify(raw, start, i)
			}
			if len(c.children) > 0 {
				c.reset(vals, scanAbsent) // a later duplicate replaces the whole value
				if raw[start] == '{' {
					if _, ok = scanObject(raw, start, c, vals, nil); !ok {
						return 0, false
					}
				}
			}
		}
		i = skipWS(raw, i)
		if i >= len(raw) {
			return 0, false
		}
		switch raw[i] {
		case ',':
			i = skipWS(raw, i+1)
		case '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// classify describes the value raw[start:end].
func classify(raw []byte, start, end int) scanValue {
	v := raw[start:end]
	switch v[0] {
	case '"':
		s := v[1 : len(v)-1]
		if bytes.IndexByte(s, '\\') >= 0 || !utf8.Valid(s) {
			return scanValue{kind: scanUnknown}
		}
		return scanValue{kind: scanString, s: unsafe.String(unsafe.SliceData(s), len(s))}
	case 't':
		if string(v) == "true" {
			return scanValue{kind: scanTrue}
		}
	case 'f':
		if string(v) == "false" {
			return scanValue{kind: scanFalse}
		}
	case 'n':
		if string(v) == "null" {
			return scanValue{kind: scanOther}
		}
	case '{', '[', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return scanValue{kind: scanOther}
	}
	return scanValue{kind: scanUnknown}
}

// stringEnd returns the index after the string starting at raw[i] == '"'
// and whether it holds escapes.
func stringEnd(raw []byte, i int) (end int, esc, ok bool) {
	j := i + 1
	for {
		k := bytes.IndexByte(raw[j:], '"')
		if k < 0 {
			return 0, false, false
		}
		q := j + k
		n := 0
		for p := q - 1; p > i && raw[p] == '\\'; p-- {
			n++
		}
		if !esc && bytes.IndexByte(raw[j:q], '\\') >= 0 {
			esc = true
		}
		if n%2 == 0 {
			return q + 1, esc, true
		}
		j = q + 1
	}
}

// skipString returns the index after the string starting at raw[i] == '"'.
func skipString(raw []byte, i int) (int, bool) {
	j := i + 1
	for {
		k := bytes.IndexByte(raw[j:], '"')
		if k < 0 {
			return 0, false
		}
		q := j + k
		if raw[q-1] != '\\' {
			return q + 1, true
		}
		n := 0
		for p := q - 1; p > i && raw[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, true
		}
		j = q + 1
	}
}

// skipValue returns the index after the JSON value at raw[i].
func skipValue(raw []byte, i int) (int, bool) {
	switch raw[i] {
	case '"':
		return skipString(raw, i)
	case '{', '[':
		depth := 0
		for i < len(raw) {
			switch raw[i] {
			case '"':
				end, ok := skipString(raw, i)
				if !ok {
					return 0, false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return 0, false
	}
	j := i
	for j < len(raw) {
		c := raw[j]
		if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		j++
	}
	return j, j > i
}

func skipWS(raw []byte, i int) int {
	for i < len(raw) {
		switch raw[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// slotValues are the scanned values of a source's prefiltered fields,
// by slot: all read from the raw record by scanRecord, or, for a decoded
// record, each looked up on first use.
type slotValues struct {
	vals []scanValue
	// fields is the decoded record, or nil; paths are the fields by
	// slot; vals[i] is current when at[i] == gen.
	fields map[string]any
	paths  [][]string
	gen    uint32
	at     []uint32
}

// decoded makes the values those of a decoded record.
func (s *slotValues) decoded(fields map[string]any, paths [][]string) {
	s.fields, s.paths = fields, paths
	if s.gen++; s.gen == 0 { // wrapped: forget every value
		clear(s.at)
		s.gen = 1
	}
}

// get returns slot i's value.
func (s *slotValues) get(i int) scanValue {
	if s.fields != nil && s.at[i] != s.gen {
		s.vals[i], s.at[i] = lookupSlot(s.fields, s.paths[i]), s.gen
	}
	return s.vals[i]
}

// lookupSlot reads a field path from a decoded record as scanRecord
// reads it from the raw one: a path through something other than an
// object is absent.
func lookupSlot(fields map[string]any, path []string) scanValue {
	v, ok := fields[path[0]]
	for _, name := range path[1:] {
		m, isMap := v.(map[string]any)
		if !isMap {
			return scanValue{kind: scanAbsent}
		}
		v, ok = m[name]
	}
	return classifyValue(v, ok)
}

// paths returns the field paths of n's tree by slot.
func (n *scanNode) paths(slots int) [][]string {
	out := make([][]string, slots)
	var walk func(n *scanNode, prefix []string)
	walk = func(n *scanNode, prefix []string) {
		for _, c := range n.children {
			p := append(slices.Clip(prefix), c.key)
			if c.slot >= 0 {
				out[c.slot] = p
			}
			walk(c, p)
		}
	}
	walk(n, nil)
	return out
}

// classifyValue describes a decoded value; ok is false when it is absent.
func classifyValue(v any, ok bool) scanValue {
	if !ok {
		return scanValue{kind: scanAbsent}
	}
	switch x := v.(type) {
	case string:
		return scanValue{kind: scanString, s: x}
	case bool:
		if x {
			return scanValue{kind: scanTrue}
		}
		return scanValue{kind: scanFalse}
	}
	return scanValue{kind: scanOther}
}
