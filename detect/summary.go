package detect

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gojson "github.com/goccy/go-json"

	"github.com/expr-lang/expr/vm"
)

// Summary rendering limits.
const (
	// MaxSummaryLen caps a rendered summary in bytes.
	MaxSummaryLen = 400
	// MaxSummaryValueLen caps one rendered {{ }} value in bytes.
	MaxSummaryValueLen = 160
)

// template is a compiled summary: literal text and {{ expression }} parts.
type template struct {
	parts []tmplPart
	codes []string // the expressions' source text
}

type tmplPart struct {
	text string      // literal text, when prog is nil
	prog *vm.Program // compiled expression
}

// templateError is a summary compile error at a rune offset of the
// summary text.
type templateError struct {
	offset int
	err    error
}

// Error implements error.
func (e *templateError) Error() string { return e.err.Error() }

// Unwrap returns the underlying error.
func (e *templateError) Unwrap() error { return e.err }

// compileTemplate parses a summary and compiles each {{ }} part as an expr
// expression for the source's environment.
func compileTemplate(s string, sc *schema) (*template, error) {
	return parseTemplate(s, func(code string) (*vm.Program, error) { return compileExpr(code, sc, false) })
}

// parseTemplate parses a summary and compiles each {{ }} part with
// compile.
func parseTemplate(s string, compile func(code string) (*vm.Program, error)) (*template, error) {
	if len(s) > MaxExprLen {
		return nil, &templateError{0, fmt.Errorf("summary longer than %d bytes", MaxExprLen)}
	}
	t := &template{}
	rest, pos := s, 0 // pos: byte offset of rest in s
	for rest != "" {
		i := strings.Index(rest, "{{")
		if i < 0 {
			t.parts = append(t.parts, tmplPart{text: rest})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tmplPart{text: rest[:i]})
		}
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			return nil, &templateError{runeOffset(s, pos+i), errors.New("summary: unclosed {{")}
		}
		code := rest[i+2 : i+2+j]
		codeStart := pos + i + 2
		if strings.TrimSpace(code) == "" {
			return nil, &templateError{runeOffset(s, codeStart), errors.New("summary: empty {{ }}")}
		}
		prog, err := compile(code)
		if err != nil {
			off := runeOffset(s, codeStart)
			if fe, ok := asFileError(err); ok {
				return nil, &templateError{off + fe.From, &exprError{field: "summary", err: fe}}
			}
			return nil, &templateError{off, fmt.Errorf("summary: %w", err)}
		}
		t.parts = append(t.parts, tmplPart{prog: prog})
		t.codes = append(t.codes, code)
		pos += i + 2 + j + 2
		rest = s[pos:]
	}
	return t, nil
}

func runeOffset(s string, byteOff int) int { return utf8.RuneCountInString(s[:byteOff]) }

// render evaluates the template against env. A value that is nil or an
// empty string renders as "-"; a part that fails renders as "?" and its
// error is returned alongside the text. Control characters become spaces
// and the result is capped at MaxSummaryLen bytes. Nothing is escaped:
// sinks escape for their own format (Slack mrkdwn, HTML).
func (t *template) render(m *vm.VM, env map[string]any) (string, error) {
	var b strings.Builder
	var errs []error
	for _, p := range t.parts {
		if p.prog == nil {
			b.WriteString(p.text)
			continue
		}
		v, err := m.Run(p.prog, env)
		if err != nil {
			errs = append(errs, fmt.Errorf("summary: %w", err))
			b.WriteString("?")
			continue
		}
		b.WriteString(capString(formatValue(v), MaxSummaryValueLen))
	}
	return capString(sanitize(b.String()), MaxSummaryLen), errors.Join(errs...)
}

// formatValue renders one summary value.
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case string:
		if x == "" {
			return "-"
		}
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case map[string]any, []any:
		b, err := gojson.Marshal(x)
		if err != nil {
			return "?"
		}
		return string(b)
	default:
		return fmt.Sprint(x)
	}
}

// sanitize replaces control characters and invalid UTF-8 with spaces, so a
// summary stays one line.
func sanitize(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= utf8.RuneSelf {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError ||
			r == '\u2028' || r == '\u2029' {
			b.WriteByte(' ')
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// capString cuts s to at most max bytes at a rune boundary, marking the
// cut with "…".
func capString(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ell = "…"
	cut := max - len(ell)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ell
}
