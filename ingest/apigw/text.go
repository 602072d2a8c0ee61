package apigw

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// The text presets have no keys: their values are named after the keys of
// the JSON preset, so that rules written for JSON records (httpMethod,
// resourcePath, status, ...) also match CLF and CSV lines.

// csvNames are the columns of the console's CSV presets, by column count.
var csvNames = map[int][]string{
	// HTTP APIs.
	8: {"ip", "requestTime", "httpMethod", "routeKey", "protocol", "status", "responseLength", "requestId"},
	// REST APIs, without and with $context.extendedRequestId.
	10: {"ip", "caller", "user", "requestTime", "httpMethod", "resourcePath", "protocol", "status", "responseLength",
		"requestId"},
	11: {"ip", "caller", "user", "requestTime", "httpMethod", "resourcePath", "protocol", "status", "responseLength",
		"requestId", "extendedRequestId"},
}

var errNotAccessLog = errors.New("not an access-log line: want a JSON object, a CLF or CSV console preset line " +
	"(REST: ip caller user [requestTime] \"httpMethod resourcePath protocol\" status responseLength requestId), " +
	"an XML <request> or an execution-log line \"(requestId) message\"")

// readText reads a CLF or CSV preset line into f; raw is its JSON form.
func readText(line []byte, f *fields) ([]byte, error) {
	s := string(line)
	var (
		m   kvs
		err error
	)
	if strings.IndexByte(s, '[') >= 0 {
		m, err = parseCLF(s)
	} else {
		m, err = parseCSV(s)
	}
	if err != nil {
		return nil, err
	}
	resolveText(m, nil, f)
	return m.appendJSON(make([]byte, 0, 2*len(s)+16*len(m)+32), s), nil
}

// kv is one named value of a text record.
type kv struct{ k, v string }

// kvs are the values of a text record in the line's order.
type kvs []kv

// add appends k unless m has it.
func (m kvs) add(k, v string) kvs {
	if _, dup := m.get(k); dup {
		return m
	}
	return append(m, kv{k, v})
}

func (m kvs) get(k string) (string, bool) {
	for _, e := range m {
		if e.k == k {
			return e.v, true
		}
	}
	return "", false
}

// appendJSON appends m and "line" as a JSON object.
func (m kvs) appendJSON(dst []byte, line string) []byte {
	dst = append(dst, '{')
	for _, e := range m {
		if e.k == "line" {
			continue // the original line wins
		}
		dst = appendJSONString(dst, e.k)
		dst = append(dst, ':')
		dst = appendJSONString(dst, e.v)
		dst = append(dst, ',')
	}
	dst = append(dst, `"line":`...)
	dst = appendJSONString(dst, line)
	return append(dst, '}')
}

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes
// U+FFFD, as encoding/json writes it.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return append(dst, '"')
}

// parseCLF reads the CLF presets:
//
//	REST: ip caller user [requestTime] "httpMethod resourcePath protocol" status responseLength requestId [extendedRequestId]
//	HTTP: ip - - [requestTime] "httpMethod routeKey protocol" status responseLength requestId
//
// An HTTP API's route key holds a space ("GET /pets"); "$default" and
// WebSocket route keys start with "$". Anything after the request id and
// an extended request id is kept as "extra".
func parseCLF(s string) (kvs, error) {
	open := strings.IndexByte(s, '[')
	head := strings.Fields(s[:open])
	if len(head) != 3 {
		return nil, fmt.Errorf("CLF line: want \"ip caller user\" before [requestTime], got %d fields", len(head))
	}
	end := strings.IndexByte(s[open:], ']')
	if end < 0 {
		return nil, errors.New("CLF line: [requestTime] has no closing ]")
	}
	m := make(kvs, 0, 13)
	m = append(m, kv{"ip", head[0]}, kv{"caller", head[1]}, kv{"user", head[2]}, kv{"requestTime", s[open+1 : open+end]})
	rest := strings.TrimLeft(s[open+end+1:], " ")
	if !strings.HasPrefix(rest, `"`) {
		return nil, errors.New(`CLF line: want "httpMethod path protocol" after [requestTime]`)
	}
	q := strings.IndexByte(rest[1:], '"')
	if q < 0 {
		return nil, errors.New(`CLF line: "httpMethod path protocol" has no closing quote`)
	}
	req := strings.Fields(rest[1 : q+1])
	switch n := len(req); {
	case n >= 3:
		p, pathKey := req[1], "resourcePath"
		if n > 3 {
			p = strings.Join(req[1:n-1], " ")
		}
		if n > 3 || strings.HasPrefix(p, "$") {
			pathKey = "routeKey"
		}
		m = append(m, kv{"httpMethod", req[0]}, kv{pathKey, p}, kv{"protocol", req[n-1]})
	case n == 2:
		m = append(m, kv{"httpMethod", req[0]}, kv{"resourcePath", req[1]})
	case n == 1:
		m = append(m, kv{"httpMethod", req[0]})
	}
	tail := strings.TrimSpace(rest[q+2:])
	for _, name := range []string{"status", "responseLength", "requestId", "extendedRequestId"} {
		var v string
		v, tail, _ = strings.Cut(tail, " ")
		if v == "" {
			break
		}
		m = append(m, kv{name, v})
		tail = strings.TrimLeft(tail, " ")
	}
	if _, ok := m.get("requestId"); !ok {
		return nil, errors.New("CLF line: want status, responseLength and requestId after the request")
	}
	if tail != "" {
		m = append(m, kv{"extra", tail})
	}
	return m, nil
}

// parseCSV reads the CSV presets (see csvNames).
func parseCSV(s string) (kvs, error) {
	cols := strings.Split(s, ",")
	names, ok := csvNames[len(cols)]
	if !ok {
		if len(cols) > 1 {
			return nil, fmt.Errorf("CSV line: %d columns; the console presets have 8 (HTTP API), 10 or 11 (REST API)", len(cols))
		}
		return nil, errNotAccessLog
	}
	m := make(kvs, len(cols))
	for i, c := range cols {
		m[i] = kv{names[i], strings.TrimSpace(c)}
	}
	return m, nil
}

// maxXMLDepth bounds the nesting of an XML record.
const maxXMLDepth = 8

// readXML reads an XML record such as the console preset
// <request id="$context.requestId"> <ip>...</ip> ... </request>. Child
// elements are keys (nested ones as dotted paths, "identity.sourceIp"),
// the root's attributes too ("id" as requestId). raw is the JSON object
// of those keys plus "line".
func (d Decoder) readXML(line []byte, f *fields) ([]byte, error) {
	m, err := parseXML(line)
	if err != nil {
		return nil, err
	}
	f.keyed = true
	resolveText(m, d.Config.KeyMap, f)
	if !f.found {
		return nil, errors.New("no access-log element (requestId, ip, httpMethod, status, ...); " +
			"set key_map to the element names of the stage's access-log format")
	}
	s := string(line)
	return m.appendJSON(make([]byte, 0, 2*len(s)+16*len(m)+32), s), nil
}

func parseXML(line []byte) (kvs, error) {
	dec := xml.NewDecoder(bytes.NewReader(line))
	dec.Strict = false // API Gateway does not escape the values it inserts
	var m kvs
	var path []string
	var text strings.Builder
	hasChild, roots := false, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("invalid XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(path) == 0 {
				if roots++; roots > 1 {
					return nil, errors.New("invalid XML: more than one root element")
				}
				for _, a := range t.Attr {
					k := a.Name.Local
					if k == "id" {
						k = "requestId"
					}
					m = m.add(k, a.Value)
				}
			}
			if len(path) >= maxXMLDepth {
				return nil, fmt.Errorf("invalid XML: nested deeper than %d elements", maxXMLDepth)
			}
			path = append(path, t.Name.Local)
			text.Reset()
			hasChild = false
		case xml.EndElement:
			if len(path) == 0 {
				return nil, errors.New("invalid XML: unbalanced end element")
			}
			if len(path) > 1 && !hasChild {
				m = m.add(strings.Join(path[1:], "."), strings.TrimSpace(text.String()))
			}
			path = path[:len(path)-1]
			text.Reset()
			hasChild = true // the parent has a child
		case xml.CharData:
			if len(path) == 0 {
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, errors.New("invalid XML: text outside the root element")
				}
				continue
			}
			text.Write(t)
		}
	}
	if len(path) != 0 {
		return nil, errors.New("invalid XML: unclosed element")
	}
	if len(m) == 0 {
		return nil, errors.New("invalid XML: no elements")
	}
	return m, nil
}
