package sigma

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// comparer translates the values of one field item.
type comparer struct {
	tr *translator
	f  *field
	m  mods
	// atoms remembers the plain equality and contains comparisons made,
	// so that group can join the alternatives of one field into one
	// "in" list or one contains_any call.
	atoms map[*node]atom
}

type atom struct {
	kind matchKind // mEq or mContains
	lit  string    // the literal as compared (quoted for strings)
}

// value translates one value (with the transforms' alternatives).
func (c *comparer) value(v *yaml.Node) (*node, error) {
	f, m := c.f, c.m
	if v.Tag == "!!null" {
		if m.op != "" || m.re || m.cidr || m.cmp != "" || m.fieldref || len(m.transform) > 0 {
			return nil, errors.New("null cannot be used with this modifier")
		}
		return absent(f), nil
	}
	s := v.Value
	switch {
	case m.fieldref:
		return c.fieldref(s)
	case m.re:
		return leaf("$1 matches $2", c.text(), quote(reFlags(m.reFlags)+s)), nil
	case m.cidr:
		if err := checkCIDR(s); err != nil {
			return nil, err
		}
		return leaf("cidr($1, $2)", c.helperArg(), quote(s)), nil
	case m.cmp != "":
		n, ok := number(s)
		if !ok {
			return nil, fmt.Errorf("%s needs a number, not %q", m.cmp, s)
		}
		op := map[string]string{"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}[m.cmp]
		if f.typ == typeInt {
			return leaf("$1 "+op+" $2", f.path, n), nil
		}
		return leaf("$1 != nil and $1 "+op+" $2", f.path, n), nil
	}
	if f.typ == typeMap || f.typ == typeList {
		if m.op != "contains" {
			return nil, fmt.Errorf("%s is an object or list: compare one of its members (or use contains to search its JSON text)", f.sigma)
		}
		c.warnJSON()
	}
	alts := []string{s}
	if len(m.transform) > 0 {
		var err error
		if alts, err = transformValue(s, m.transform); err != nil {
			return nil, err
		}
	}
	// base64 is case-sensitive; windash keeps Sigma's case folding.
	encoded := strings.Contains(strings.Join(m.transform, ","), "base64")
	var kids []*node
	for _, a := range alts {
		ps := parseWildcards(a)
		if len(m.transform) > 0 { // transformed values hold no wildcards
			ps = []piece{{lit: a}}
		}
		n, err := c.pattern(withOp(ps, m.op), v.Tag, encoded)
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	return c.group(kids), nil
}

// warnJSON notes a search in a whole object's JSON text.
func (c *comparer) warnJSON() {
	c.tr.warn("%s is an object: contains searches its JSON text (strings inside are JSON-escaped)", c.f.sigma)
}

// pattern translates one pattern. exact forces a case-sensitive
// comparison (encoded values).
func (c *comparer) pattern(ps []piece, tag string, exact bool) (*node, error) {
	f := c.f
	kind, lit := classify(ps)
	if kind == mAny {
		return present(f), nil
	}
	switch f.typ {
	case typeInt, typeNullNumber:
		if kind == mEq {
			n, ok := number(lit)
			if !ok {
				return nil, fmt.Errorf("%s is a number; %q can never match", f.sigma, lit)
			}
			return c.remember(leaf("$1 == $2", f.path, n), mEq, n), nil
		}
	case typeBool:
		if kind == mEq && (strings.EqualFold(lit, "true") || strings.EqualFold(lit, "false")) {
			return leaf("$1 == $2", f.path, strings.ToLower(lit)), nil
		}
		return nil, fmt.Errorf("%s is a bool; %q can never match", f.sigma, lit)
	}
	fold := !exact && !c.m.cased && f.cs == caseFold && tag != "!!int" && tag != "!!float"
	if !exact && !c.m.cased {
		switch f.cs {
		case caseLower:
			lit = strings.ToLower(lit)
		case caseUpper:
			lit = strings.ToUpper(lit)
		}
	}
	text := c.text()
	if fold && kind != mRegex {
		lit = strings.ToLower(lit)
		if f.typ == typeNullString {
			text = f.path // lower reads nil as ""
		}
		text = "lower(" + text + ")"
	}
	switch kind {
	case mEq:
		lhs := text
		if !fold && f.typ == typeNullString {
			lhs = f.path // nil never equals a string: keeps "field == lit" a prefilter
		}
		return c.remember(leaf("$1 == $2", lhs, quote(lit)), mEq, quote(lit)), nil
	case mContains:
		return c.remember(leaf("$1 contains $2", text, quote(lit)), mContains, lit), nil
	case mPrefix:
		return leaf("$1 startsWith $2", text, quote(lit)), nil
	case mSuffix:
		return leaf("$1 endsWith $2", text, quote(lit)), nil
	}
	flags := "(?s)"
	if fold || (f.cs != caseExact && !c.m.cased && !exact) {
		flags = "(?is)"
	}
	return leaf("$1 matches $2", c.text(), quote(flags+lit)), nil
}

func (c *comparer) remember(n *node, k matchKind, lit string) *node {
	if c.atoms == nil {
		c.atoms = map[*node]atom{}
	}
	c.atoms[n] = atom{kind: k, lit: lit}
	return n
}

// text is the field read as text, for string comparisons.
func (c *comparer) text() string {
	f := c.f
	switch f.typ {
	case typeString:
		return f.path
	case typeNullString:
		return "(" + f.path + " ?? \"\")"
	case typeMap, typeList:
		return "toJSON(" + f.path + ")"
	}
	return "string(" + f.path + " ?? \"\")"
}

// helperArg is the field as the argument of a nil-safe helper (cidr,
// contains_any): a string, or nil.
func (c *comparer) helperArg() string {
	switch c.f.typ {
	case typeString, typeNullString:
		return c.f.path
	}
	return c.text()
}

// group joins the alternatives of a field with or; equality and contains
// comparisons of the same form become one "in" or contains_any.
func (c *comparer) group(kids []*node) *node {
	var eqs, cons []string
	var eqAt, conAt = -1, -1
	var rest []*node
	for _, k := range kids {
		a, ok := c.atoms[k]
		switch {
		case ok && a.kind == mEq:
			if eqAt < 0 {
				eqAt = len(rest)
				rest = append(rest, nil)
			}
			eqs = append(eqs, a.lit)
		case ok && a.kind == mContains:
			if conAt < 0 {
				conAt = len(rest)
				rest = append(rest, nil)
			}
			cons = append(cons, a.lit)
		default:
			rest = append(rest, k)
		}
	}
	if eqAt >= 0 {
		rest[eqAt] = c.eqGroup(kids, eqs)
	}
	if conAt >= 0 {
		rest[conAt] = c.containsGroup(kids, cons)
	}
	return or(rest...)
}

func (c *comparer) eqGroup(kids []*node, lits []string) *node {
	if len(lits) == 1 {
		for _, k := range kids {
			if a, ok := c.atoms[k]; ok && a.kind == mEq {
				return k
			}
		}
	}
	// Every eq atom of a field has the same left side.
	var lhs string
	for _, k := range kids {
		if a, ok := c.atoms[k]; ok && a.kind == mEq {
			lhs = strings.TrimSuffix(k.text, " == "+a.lit)
			break
		}
	}
	return leaf("$1 in [$2]", lhs, strings.Join(lits, ", "))
}

func (c *comparer) containsGroup(kids []*node, lits []string) *node {
	if len(lits) == 1 {
		for _, k := range kids {
			if a, ok := c.atoms[k]; ok && a.kind == mContains {
				return k
			}
		}
	}
	var lhs string
	for _, k := range kids {
		if a, ok := c.atoms[k]; ok && a.kind == mContains {
			lhs = k.text[:strings.Index(k.text, " contains ")]
			break
		}
	}
	fn := "contains_any"
	if inner, ok := strings.CutPrefix(lhs, "lower("); ok {
		fn, lhs = "icontains_any", strings.TrimSuffix(inner, ")")
	}
	if lhs == c.text() && c.f.typ == typeNullString {
		lhs = c.f.path // the helper reads nil as ""
	}
	return leaf("$1($2, $3)", fn, lhs, quoteList(lits))
}

// fieldref compares the field with another field of the same event.
func (c *comparer) fieldref(other string) (*node, error) {
	o, w, err := c.tr.t.resolve(other)
	if err != nil {
		return nil, fmt.Errorf("fieldref: %w", err)
	}
	if w != "" {
		c.tr.warn("%s", w)
	}
	if o.list != "" || c.f.list != "" || o.existsOnly {
		return nil, errors.New("fieldref between list elements is not supported")
	}
	a, b := c.text(), (&comparer{tr: c.tr, f: o}).text()
	op := map[string]string{"": "==", "contains": "contains", "startswith": "startsWith", "endswith": "endsWith"}[c.m.op]
	// Sigma compares field values exactly; both must be present.
	return and(present(c.f), present(o), leaf("$1 "+op+" $2", a, b)), nil
}
