package sigma

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

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
	lhs  string    // the field as compared: path, text or lower(text)
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
			return c.remember(leaf("$1 == $2", f.path, n), mEq, f.path, n), nil
		}
	case typeBool:
		if kind == mEq && (strings.EqualFold(lit, "true") || strings.EqualFold(lit, "false")) {
			return leaf("$1 == $2", f.path, strings.ToLower(lit)), nil
		}
		return nil, fmt.Errorf("%s is a bool; %q can never match", f.sigma, lit)
	}
	fold := !exact && !c.m.cased && c.folds(kind, lit, tag)
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
		return c.remember(leaf("$1 == $2", lhs, quote(lit)), mEq, lhs, quote(lit)), nil
	case mContains:
		return c.remember(leaf("$1 contains $2", text, quote(lit)), mContains, text, lit), nil
	case mPrefix:
		return leaf("$1 startsWith $2", text, quote(lit)), nil
	case mSuffix:
		return leaf("$1 endsWith $2", text, quote(lit)), nil
	}
	flags := "(?s)"
	if fold {
		flags = "(?is)"
	}
	return leaf("$1 matches $2", c.text(), quote(flags+lit)), nil
}

// folds says whether a comparison of kind with lit (a Sigma value with
// YAML tag) must fold the field's case, lower(field) against the
// lower-cased literal, for Sigma's case-insensitive matching. A field the
// producer writes in one case is compared exactly only where that is
// equivalent: the literal is in the field's canonical case.
func (c *comparer) folds(kind matchKind, lit, tag string) bool {
	caseless := strings.ToLower(lit) == strings.ToUpper(lit)
	if caseless && (tag == "!!int" || tag == "!!float") {
		return false // a number has no case: the exact comparison is the same
	}
	switch c.f.cs {
	case caseLower:
		// Always lower-case: a lower-case literal (or one without
		// letters) matches exactly what it matches folded; any other
		// literal must be folded with the field.
		return lit != strings.ToLower(lit)
	case caseExact:
		// PascalCase identifiers (eventName, userIdentity.type): how the
		// producer capitalizes a word is not known here, so only a whole
		// value starting with an upper-case letter is taken as written,
		// and only for plain equality; contains, prefixes, suffixes and
		// patterns are folded.
		r, _ := utf8.DecodeRuneInString(lit)
		return kind != mEq || !unicode.IsUpper(r)
	}
	return true
}

func (c *comparer) remember(n *node, k matchKind, lhs, lit string) *node {
	if c.atoms == nil {
		c.atoms = map[*node]atom{}
	}
	c.atoms[n] = atom{kind: k, lhs: lhs, lit: lit}
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
// comparisons with the same left side (the field read the same way:
// folded or exact) become one "in" or contains_any. Alternatives of one
// field may be read differently (a number compared exactly next to a
// folded string), and each way gets its own group.
func (c *comparer) group(kids []*node) *node {
	type key struct {
		kind matchKind
		lhs  string
	}
	type grp struct {
		at    int
		first *node
		lits  []string
	}
	groups := map[key]*grp{}
	var order []key
	var rest []*node
	for _, k := range kids {
		a, ok := c.atoms[k]
		if !ok || (a.kind != mEq && a.kind != mContains) {
			rest = append(rest, k)
			continue
		}
		gk := key{a.kind, a.lhs}
		g := groups[gk]
		if g == nil {
			g = &grp{at: len(rest), first: k}
			groups[gk] = g
			order = append(order, gk)
			rest = append(rest, nil)
		}
		g.lits = append(g.lits, a.lit)
	}
	for _, gk := range order {
		g := groups[gk]
		switch {
		case len(g.lits) == 1:
			rest[g.at] = g.first
		case gk.kind == mEq:
			rest[g.at] = leaf("$1 in [$2]", gk.lhs, strings.Join(g.lits, ", "))
		default:
			rest[g.at] = c.containsGroup(gk.lhs, g.lits)
		}
	}
	return or(rest...)
}

// containsGroup is one contains_any (icontains_any for a folded left
// side) of the literals.
func (c *comparer) containsGroup(lhs string, lits []string) *node {
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
