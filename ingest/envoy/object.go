package envoy

import (
	"strconv"

	"github.com/tripline/tripline/internal/jsonenc"
)

// object builds a JSON object; keys are written as they are (they are
// field names, never user input).
type object struct {
	b []byte
}

// key writes "name": after a comma or the opening brace.
func (o *object) key(name string) {
	if len(o.b) == 0 {
		o.b = append(o.b, '{')
	} else {
		o.b = append(o.b, ',')
	}
	o.b = append(o.b, '"')
	o.b = append(o.b, name...)
	o.b = append(o.b, '"', ':')
}

// str writes a string member; an empty value is left out.
func (o *object) str(name, v string) {
	if v == "" {
		return
	}
	o.key(name)
	o.b = jsonenc.AppendString(o.b, v)
}

func (o *object) int(name string, v int64) {
	o.key(name)
	o.b = strconv.AppendInt(o.b, v, 10)
}

// raw writes a member whose value is JSON text.
func (o *object) raw(name, v string) {
	o.key(name)
	o.b = append(o.b, v...)
}

func (o *object) close() []byte {
	if len(o.b) == 0 {
		return []byte("{}")
	}
	return append(o.b, '}')
}
