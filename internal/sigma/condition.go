package sigma

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// A Sigma condition (specification v2, "Condition"):
//
//	cond    = or
//	or      = and {"or" and}
//	and     = unary {"and" unary}
//	unary   = "not" unary | "(" cond ")" | quant "of" (pattern | "them") | name
//	quant   = "1" | "any" | "all"
//
// Keywords are case-insensitive; a pattern may use * as a wildcard. The
// Sigma 1 aggregations after a pipe ("| count() > 5") are refused: they
// are written as correlation rules now.

// condToken is one token of a condition.
type condToken struct {
	text string
	pos  int
}

func tokenize(s string) ([]condToken, error) {
	var toks []condToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			toks = append(toks, condToken{string(c), i})
			i++
		case c == '|':
			return nil, fmt.Errorf("condition %q: the aggregation after | (Sigma 1) is not supported; use a correlation rule", s)
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()|", rune(s[j])) {
				j++
			}
			toks = append(toks, condToken{s[i:j], i})
			i = j
		}
	}
	return toks, nil
}

// condParser parses a condition against the detection's selection names
// and builds its expression with sel, which translates one selection.
type condParser struct {
	src   string
	toks  []condToken
	pos   int
	names []string // selection names, in order
	sel   func(name string) (*node, error)
}

// parseCondition translates a condition into an expression node.
func parseCondition(cond string, names []string, sel func(string) (*node, error)) (*node, error) {
	toks, err := tokenize(cond)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, errors.New("empty condition")
	}
	p := &condParser{src: cond, toks: toks, names: names, sel: sel}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, p.errorf("unexpected %q", p.toks[p.pos].text)
	}
	return n, nil
}

func (p *condParser) errorf(format string, args ...any) error {
	return fmt.Errorf("condition %q: %s", p.src, fmt.Sprintf(format, args...))
}

func (p *condParser) peek() string {
	if p.pos < len(p.toks) {
		return strings.ToLower(p.toks[p.pos].text)
	}
	return ""
}

func (p *condParser) or() (*node, error) {
	n, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peek() == "or" {
		p.pos++
		m, err := p.and()
		if err != nil {
			return nil, err
		}
		n = or(n, m)
	}
	return n, nil
}

func (p *condParser) and() (*node, error) {
	n, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.peek() == "and" {
		p.pos++
		m, err := p.unary()
		if err != nil {
			return nil, err
		}
		n = and(n, m)
	}
	return n, nil
}

func (p *condParser) unary() (*node, error) {
	if p.pos >= len(p.toks) {
		return nil, p.errorf("unexpected end")
	}
	t := p.toks[p.pos]
	switch low := strings.ToLower(t.text); {
	case low == "not":
		p.pos++
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		return not(n), nil
	case low == "(":
		p.pos++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, p.errorf("missing )")
		}
		p.pos++
		return n, nil
	case low == "1" || low == "any" || low == "all":
		if p.pos+2 >= len(p.toks) {
			return nil, p.errorf("%q must be followed by \"of\" and a name pattern or \"them\"", t.text)
		}
		if strings.ToLower(p.toks[p.pos+1].text) != "of" {
			return nil, p.errorf("%q must be followed by \"of\"", t.text)
		}
		pat := p.toks[p.pos+2].text
		p.pos += 3
		return p.quantified(low == "all", pat)
	case low == "and" || low == "or" || low == ")" || low == "of" || low == "them":
		return nil, p.errorf("unexpected %q", t.text)
	default:
		if _, err := fmt.Sscanf(low, "%d", new(int)); err == nil && low != "1" {
			return nil, p.errorf("%q of: only 1, any and all are Sigma quantifiers", t.text)
		}
		p.pos++
		if !slices.Contains(p.names, t.text) {
			return nil, p.errorf("no selection named %q", t.text)
		}
		return p.sel(t.text)
	}
}

// quantified is "1 of pattern" (all false: or) or "all of pattern".
// "them" is every selection whose name does not start with "_".
func (p *condParser) quantified(all bool, pat string) (*node, error) {
	var matched []string
	for _, name := range p.names {
		ok := false
		if strings.EqualFold(pat, "them") {
			ok = !strings.HasPrefix(name, "_")
		} else {
			ok, _ = path.Match(pat, name)
		}
		if ok {
			matched = append(matched, name)
		}
	}
	if len(matched) == 0 {
		return nil, p.errorf("no selection matches %q", pat)
	}
	kids := make([]*node, 0, len(matched))
	for _, name := range matched {
		n, err := p.sel(name)
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	if all {
		return and(kids...), nil
	}
	return or(kids...), nil
}
