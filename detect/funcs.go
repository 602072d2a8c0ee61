package detect

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	gojson "github.com/goccy/go-json"

	"github.com/expr-lang/expr"
)

// Limits of the helper functions.
const (
	// MaxParseJSON caps the input of parseJSON and json in bytes.
	MaxParseJSON = 64 << 10
	// MaxBase64Decode caps the output of base64decode in bytes: a longer
	// input is decoded up to this size.
	MaxBase64Decode = 1 << 20
	// MaxRegexCache caps the number of compiled patterns regex keeps; the
	// cache is emptied when it is full.
	MaxRegexCache = 1024
)

// The helper functions every expression may call (docs/rules.md,
// "Helpers, exceptions, lists and macros"). Each is declared with typed
// signatures, so that a misuse (cidr(status_code, "10.0.0.0/8")) fails
// at load with the position of the argument, and each is nil-safe: a nil
// argument, such as a missing field, or a value of another type at run
// time makes it return false, "", 0 or nil, never an error. Literal
// arguments that can be checked at load (a CIDR prefix, a regular
// expression, a JSON path) are checked there by helperLint.
var helperFuncs = []expr.Option{
	parseJSONFunc,
	expr.Function("cidr", cidrFunc,
		new(func(string, string, ...string) bool),
		new(func(string, []any) bool)),
	expr.Function("regex", regexFunc, new(func(string, string) bool)),
	expr.Function("base64decode", base64Func, new(func(string) string)),
	expr.Function("urldecode", urldecodeFunc, new(func(string) string)),
	expr.Function("json", jsonFunc,
		new(func(string, string) any),
		new(func(map[string]any, string) any),
		new(func([]any, string) any)),
	expr.Function("entropy", entropyFunc, new(func(string) float64)),
	expr.Function("contains_any", func(p ...any) (any, error) { return containsAny(p, false), nil },
		new(func(string, []any) bool),
		new(func(string, string, ...string) bool)),
	expr.Function("icontains_any", func(p ...any) (any, error) { return containsAny(p, true), nil },
		new(func(string, []any) bool),
		new(func(string, string, ...string) bool)),
}

// parseJSONFunc adds parseJSON(s) to the rule language: it decodes a JSON
// document held in a string field, such as the policy statement Lambda's
// AddPermission returns in responseElements.statement or the
// policyDocument of IAM's PutUserPolicy. It returns nil, rather than
// failing, when s is not a string, is longer than MaxParseJSON, or is not
// valid JSON, so that `parseJSON(x)?.Statement` is safe on any input.
// Numbers decode as float64, like every number in a record.
var parseJSONFunc = expr.Function("parseJSON", func(params ...any) (any, error) {
	s, ok := params[0].(string)
	if !ok {
		return nil, nil
	}
	return decodeJSONString(s), nil
}, new(func(any) any))

// decodeJSONString decodes s, or returns nil when it is longer than
// MaxParseJSON or not valid JSON.
func decodeJSONString(s string) any {
	if len(s) > MaxParseJSON {
		return nil
	}
	var v any
	if err := gojson.Unmarshal([]byte(s), &v); err != nil {
		return nil
	}
	return v
}

// cidrFunc is cidr(ip, prefix...) or cidr(ip, list): whether ip, an IPv4
// or IPv6 address, is in one of the prefixes ("10.0.0.0/8", "fd00::/8";
// a bare address is a prefix of one address). An IPv4-mapped IPv6
// address matches IPv4 prefixes and a zone is ignored. An ip that is not
// an address (CloudTrail's "lambda.amazonaws.com") is in no prefix, and a
// prefix that is not valid matches nothing.
func cidrFunc(params ...any) (any, error) {
	s, ok := params[0].(string)
	if !ok {
		return false, nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return false, nil
	}
	ip = ip.WithZone("").Unmap()
	for _, p := range params[1:] {
		switch x := p.(type) {
		case string:
			if inPrefix(ip, x) {
				return true, nil
			}
		case []any:
			for _, e := range x {
				if s, ok := e.(string); ok && inPrefix(ip, s) {
					return true, nil
				}
			}
		}
	}
	return false, nil
}

// inPrefix reports whether ip (unmapped, without zone) is in prefix s.
func inPrefix(ip netip.Addr, s string) bool {
	p, ok := parsePrefix(s)
	return ok && p.Contains(ip)
}

// parsePrefix parses a CIDR prefix or a bare address; an IPv4-mapped
// IPv6 prefix is unmapped so that it matches IPv4 addresses.
func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.IndexByte(s, '/') < 0 {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, false
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	if a := p.Addr(); a.Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			return netip.Prefix{}, false
		}
		p = netip.PrefixFrom(a.Unmap(), bits)
	}
	return p.Masked(), true
}

// regexFunc is regex(s, pattern): whether the RE2 pattern matches
// somewhere in s (like the matches operator, anchors are explicit). The
// compiled patterns are cached; a pattern that does not compile matches
// nothing (a literal one fails at load).
func regexFunc(params ...any) (any, error) {
	s, ok := params[0].(string)
	pat, ok2 := params[1].(string)
	if !ok || !ok2 {
		return false, nil
	}
	re := regexCache.get(pat)
	return re != nil && re.MatchString(s), nil
}

// regexes is a bounded cache of compiled patterns, safe for concurrent
// use. A pattern that fails to compile is cached as nil.
type regexes struct {
	m sync.Map // string -> *regexp.Regexp
	n atomic.Int64
}

var regexCache regexes

func (c *regexes) get(pat string) *regexp.Regexp {
	if v, ok := c.m.Load(pat); ok {
		return v.(*regexp.Regexp)
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		re = nil
	}
	if c.n.Add(1) > MaxRegexCache {
		c.m.Clear()
		c.n.Store(1)
	}
	c.m.Store(pat, re)
	return re
}

// base64Func is base64decode(s): s decoded from base64 in the standard or
// the URL alphabet, with or without padding; line breaks are ignored. It
// returns "" when s is not valid base64, and decodes only the first
// MaxBase64Decode bytes of a longer value.
func base64Func(params ...any) (any, error) {
	s, ok := params[0].(string)
	if !ok {
		return "", nil
	}
	return base64Decode(s), nil
}

func base64Decode(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		s = strings.NewReplacer("\r", "", "\n", "").Replace(s)
	}
	s = strings.TrimRight(s, "=")
	if max := MaxBase64Decode / 3 * 4; len(s) > max {
		s = s[:max]
	}
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return ""
	}
	return string(b)
}

// jsonFunc is json(s, path): the value at path in the JSON document held
// in string s (or in s itself when it is already an object or a list),
// nil when s is not valid JSON, is longer than MaxParseJSON, or has
// nothing at path. See jsonPath for the path syntax.
func jsonFunc(params ...any) (any, error) {
	path, ok := params[1].(string)
	if !ok {
		return nil, nil
	}
	var doc any
	switch x := params[0].(type) {
	case string:
		doc = decodeJSONString(x)
	case map[string]any, []any:
		doc = x
	default:
		return nil, nil
	}
	v, _ := jsonPath(doc, path)
	return v, nil
}

// jsonPath returns the value at path in v. A path is a dotted list of
// object keys with [n] list indexes, [-n] counting from the end, and
// ["key"] or ['key'] for a key with dots or brackets:
// Statement[0].Principal.AWS, Statement[-1].Condition["aws:SourceArn"].
// The empty path is v itself. It returns an error when path is not
// valid, and nil when v has nothing at path.
func jsonPath(v any, path string) (any, error) {
	for i := 0; i < len(path); {
		if path[i] == '[' {
			var key string
			quoted := false
			if i+1 < len(path) && (path[i+1] == '"' || path[i+1] == '\'') {
				q := strings.IndexByte(path[i+2:], path[i+1])
				if q < 0 || i+2+q+1 >= len(path) || path[i+2+q+1] != ']' {
					return nil, fmt.Errorf("unclosed [ at offset %d", i)
				}
				key, quoted = path[i+2:i+2+q], true
				i += 2 + q + 2
			} else {
				j := strings.IndexByte(path[i:], ']')
				if j < 0 {
					return nil, fmt.Errorf("unclosed [ at offset %d", i)
				}
				key = path[i+1 : i+j]
				i += j + 1
			}
			if quoted {
				m, _ := v.(map[string]any)
				v = m[key]
			} else {
				n, err := strconv.Atoi(key)
				if err != nil {
					return nil, fmt.Errorf("[%s] is neither an index nor a quoted key", key)
				}
				l, _ := v.([]any)
				if n < 0 {
					n += len(l)
				}
				if n < 0 || n >= len(l) {
					v = nil
				} else {
					v = l[n]
				}
			}
			if i < len(path) && path[i] != '.' && path[i] != '[' {
				return nil, fmt.Errorf("want . or [ at offset %d", i)
			}
			continue
		}
		if path[i] == '.' {
			if i == 0 {
				return nil, errors.New("empty key at offset 0")
			}
			i++
		}
		j := i
		for j < len(path) && path[j] != '.' && path[j] != '[' {
			j++
		}
		if j == i {
			return nil, fmt.Errorf("empty key at offset %d", i)
		}
		m, _ := v.(map[string]any)
		v = m[path[i:j]]
		i = j
	}
	return v, nil
}

// entropyFunc is entropy(s): the Shannon entropy of s in bits per
// character (0 for ""; about 4 for random hex, 6 for random base64).
func entropyFunc(params ...any) (any, error) {
	s, ok := params[0].(string)
	if !ok {
		return 0.0, nil
	}
	return entropy(s), nil
}

func entropy(s string) float64 {
	if s == "" {
		return 0
	}
	var counts [256]int
	ascii := true
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
		ascii = ascii && s[i] < utf8.RuneSelf
	}
	h := 0.0
	add := func(c, n int) {
		p := float64(c) / float64(n)
		h -= p * math.Log2(p)
	}
	if ascii {
		for _, c := range counts {
			if c > 0 {
				add(c, len(s))
			}
		}
		return h
	}
	runes := map[rune]int{}
	n := 0
	for _, r := range s {
		runes[r]++
		n++
	}
	cs := make([]int, 0, len(runes))
	for _, c := range runes {
		cs = append(cs, c)
	}
	slices.Sort(cs) // a fixed order, so that the sum is the same on every run
	for _, c := range cs {
		add(c, n)
	}
	return h
}

// containsAny is contains_any(s, list) and, with fold, icontains_any:
// whether s contains one of the strings of list (or of the following
// arguments) as a substring; fold compares case-insensitively (Unicode
// simple folding). Items that are not strings are ignored, and so is ""
// (which every string contains).
func containsAny(params []any, fold bool) bool {
	s, ok := params[0].(string)
	if !ok {
		return false
	}
	if fold {
		s = strings.ToLower(s)
	}
	match := func(e any) bool {
		sub, ok := e.(string)
		if !ok || sub == "" {
			return false
		}
		if fold {
			sub = strings.ToLower(sub)
		}
		return strings.Contains(s, sub)
	}
	for _, p := range params[1:] {
		if l, ok := p.([]any); ok {
			for _, e := range l {
				if match(e) {
					return true
				}
			}
		} else if match(p) {
			return true
		}
	}
	return false
}
