package sigma

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// mods are the modifiers of a detection item (field|mod1|mod2).
type mods struct {
	op        string // "", "contains", "startswith", "endswith"
	all       bool
	re        bool
	reFlags   string // i, m, s of |re|i ...
	cidr      bool
	exists    bool
	cased     bool
	fieldref  bool
	cmp       string   // lt, lte, gt, gte
	transform []string // windash, base64, base64offset, in order
}

// refusedMods have no faithful translation on the records Tripline keeps.
var refusedMods = map[string]string{
	"wide":    "wide/utf16 encode the value for binary fields; Tripline's records are text",
	"utf16":   "wide/utf16 encode the value for binary fields; Tripline's records are text",
	"utf16le": "wide/utf16 encode the value for binary fields; Tripline's records are text",
	"utf16be": "wide/utf16 encode the value for binary fields; Tripline's records are text",
	"expand":  "expand needs placeholder values from a processing pipeline; define them as a $list and write the rule by hand",
	"minute":  "time-part modifiers are not supported",
	"hour":    "time-part modifiers are not supported",
	"day":     "time-part modifiers are not supported",
	"week":    "time-part modifiers are not supported",
	"month":   "time-part modifiers are not supported",
	"year":    "time-part modifiers are not supported",
}

func parseMods(list []string) (mods, error) {
	var m mods
	for i := 0; i < len(list); i++ {
		s := strings.ToLower(list[i])
		switch s {
		case "contains", "startswith", "endswith":
			if m.op != "" {
				return m, fmt.Errorf("modifiers %s and %s together", m.op, s)
			}
			m.op = s
		case "all":
			m.all = true
		case "re":
			m.re = true
			for i+1 < len(list) && (list[i+1] == "i" || list[i+1] == "m" || list[i+1] == "s") {
				m.reFlags += list[i+1]
				i++
			}
		case "i", "m", "s":
			return m, fmt.Errorf("modifier %s is only valid after re", s)
		case "cidr":
			m.cidr = true
		case "exists":
			m.exists = true
		case "cased":
			m.cased = true
		case "fieldref":
			m.fieldref = true
		case "lt", "lte", "gt", "gte":
			m.cmp = s
		case "windash", "base64", "base64offset":
			m.transform = append(m.transform, s)
		default:
			if why, ok := refusedMods[s]; ok {
				return m, fmt.Errorf("modifier %s: %s", s, why)
			}
			return m, fmt.Errorf("unknown modifier %q", s)
		}
	}
	special := 0
	for _, b := range []bool{m.re, m.cidr, m.exists, m.fieldref, m.cmp != ""} {
		if b {
			special++
		}
	}
	switch {
	case special > 1:
		return m, fmt.Errorf("modifiers %s cannot be combined", strings.Join(list, "|"))
	case special == 1 && len(m.transform) > 0:
		return m, fmt.Errorf("modifiers %s cannot be combined", strings.Join(list, "|"))
	case (m.re || m.cidr || m.exists || m.cmp != "") && m.op != "":
		return m, fmt.Errorf("modifier %s cannot be combined with re, cidr, exists or lt/gt", m.op)
	case strings.Contains(strings.Join(m.transform, ","), "base64offset") && m.op != "contains":
		return m, fmt.Errorf("base64offset must be used with contains (the encoded value is found inside the field)")
	}
	return m, nil
}

// piece is a run of literal text or one wildcard (* or ?).
type piece struct {
	lit  string
	wild byte
}

// parseWildcards splits a Sigma value into literal runs and wildcards.
// A backslash escapes *, ? and itself; before any other character it is
// a literal backslash (Sigma specification, "Escaping").
func parseWildcards(s string) []piece {
	var out []piece
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			out = append(out, piece{lit: b.String()})
			b.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\'):
			b.WriteByte(s[i+1])
			i++
		case c == '*' || c == '?':
			flush()
			out = append(out, piece{wild: c})
		default:
			b.WriteByte(c)
		}
	}
	flush()
	return out
}

// matchKind is what a value pattern reduces to.
type matchKind uint8

const (
	mEq matchKind = iota
	mContains
	mPrefix
	mSuffix
	mRegex
	mAny // only * wildcards: any value
)

// classify reduces a pattern (after contains/startswith/endswith added
// their *) to a comparison: the literal for eq/contains/prefix/suffix, or
// a regular expression body (anchored) for the others.
func classify(ps []piece) (matchKind, string) {
	if len(ps) == 0 {
		return mEq, ""
	}
	lead, trail := 0, len(ps)
	for lead < len(ps) && ps[lead].wild == '*' {
		lead++
	}
	if lead == len(ps) {
		return mAny, ""
	}
	for trail > lead && ps[trail-1].wild == '*' {
		trail--
	}
	inner := ps[lead:trail]
	if len(inner) == 1 && inner[0].wild == 0 {
		lit := inner[0].lit
		switch {
		case lead > 0 && trail < len(ps):
			return mContains, lit
		case lead > 0:
			return mSuffix, lit
		case trail < len(ps):
			return mPrefix, lit
		}
		return mEq, lit
	}
	// Leading and trailing * are left out: the match is unanchored there.
	var re strings.Builder
	if lead == 0 {
		re.WriteString("^")
	}
	for _, p := range inner {
		switch p.wild {
		case '*':
			re.WriteString(".*")
		case '?':
			re.WriteString(".")
		default:
			re.WriteString(regexp.QuoteMeta(p.lit))
		}
	}
	if trail == len(ps) {
		re.WriteString("$")
	}
	return mRegex, re.String()
}

// withOp adds the wildcards of contains/startswith/endswith to a pattern.
func withOp(ps []piece, op string) []piece {
	star := piece{wild: '*'}
	switch op {
	case "contains":
		return append(append([]piece{star}, ps...), star)
	case "startswith":
		return append(ps, star)
	case "endswith":
		return append([]piece{star}, ps...)
	}
	return ps
}

// transformValue applies windash, base64 and base64offset to a literal
// value, giving its alternatives (any of which matches).
func transformValue(v string, ts []string) ([]string, error) {
	alts := []string{v}
	for _, t := range ts {
		var next []string
		for _, a := range alts {
			if strings.ContainsAny(a, "*?") {
				return nil, fmt.Errorf("%s of a value with wildcards (%q) has no meaning", t, a)
			}
			switch t {
			case "windash":
				next = append(next, windash(a)...)
			case "base64":
				next = append(next, base64.StdEncoding.EncodeToString([]byte(a)))
			case "base64offset":
				next = append(next, base64Offsets(a)...)
			}
		}
		if len(next) > 256 {
			return nil, fmt.Errorf("%s makes %d alternatives of %q (at most 256)", t, len(next), v)
		}
		alts = next
	}
	return alts, nil
}

// windashChars replace a dash or slash that starts a command-line flag.
var windashChars = []string{"-", "/", "\u2013", "\u2014", "\u2015"}

// windash returns every variant of v with each flag character (a - or /
// at the start or after a space) replaced by -, /, en dash, em dash or
// horizontal bar, as Sigma's windash does.
func windash(v string) []string {
	out := []string{""}
	rs := []rune(v)
	for i, r := range rs {
		if (r == '-' || r == '/') && (i == 0 || rs[i-1] == ' ') {
			var next []string
			for _, o := range out {
				for _, d := range windashChars {
					next = append(next, o+d)
				}
			}
			out = next
			continue
		}
		for j := range out {
			out[j] += string(r)
		}
	}
	return out
}

// base64Offsets returns the three base64 encodings of v at byte offsets
// 0, 1 and 2 of an encoded stream, without the characters that depend on
// the neighbouring bytes (as Sigma's base64offset does).
func base64Offsets(v string) []string {
	starts := []int{0, 2, 3}
	ends := []int{0, 3, 2} // characters cut at the end, by (len+offset) % 3
	out := make([]string, 0, 3)
	for i := 0; i < 3; i++ {
		enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat(" ", i) + v))
		end := len(enc) - ends[(len(v)+i)%3]
		if end <= starts[i] {
			continue
		}
		out = append(out, enc[starts[i]:end])
	}
	return out
}

// reFlags turns Sigma's re sub-modifiers into an RE2 flag group.
func reFlags(flags string) string {
	if flags == "" {
		return ""
	}
	return "(?" + flags + ")"
}

// checkCIDR checks a cidr modifier's value.
func checkCIDR(v string) error {
	if _, err := netip.ParsePrefix(v); err == nil {
		return nil
	}
	if _, err := netip.ParseAddr(v); err == nil {
		return nil
	}
	return fmt.Errorf("cidr: %q is not a CIDR prefix", v)
}

// number parses a numeric value for lt/lte/gt/gte and number fields.
func number(v string) (string, bool) {
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return v, true
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return strconv.FormatFloat(f, 'g', -1, 64), true
	}
	return "", false
}
