package detect

import (
	"encoding/base64"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/expr-lang/expr"
)

// evalExpr compiles code as a summary part of a source without a schema
// (so with the helpers, nil-safety and every check of a rule) and runs it
// on env.
func evalExpr(t testing.TB, code string, env map[string]any) any {
	t.Helper()
	prog, err := compileExpr(code, nil, false)
	if err != nil {
		t.Fatalf("compile %s: %v", code, err)
	}
	out, err := expr.Run(prog, env)
	if err != nil {
		t.Fatalf("run %s: %v", code, err)
	}
	return out
}

func TestHelperFuncs(t *testing.T) {
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},` +
		`"Action":"lambda:InvokeFunction","Condition":{"ArnLike":{"AWS:SourceArn":"arn:x"}},"n":3},` +
		`{"Principal":{"Service":"s3.amazonaws.com"},"a.b":{"c":true}}]}`
	env := map[string]any{
		"ip":      "10.1.2.3",
		"ip6":     "2001:db8::1",
		"mapped":  "::ffff:10.0.0.1",
		"zoned":   "fe80::1%eth0",
		"host":    "lambda.amazonaws.com",
		"num":     float64(3),
		"badcidr": "nonsense",
		"nets":    []any{"192.168.0.0/16", "10.0.0.0/8"},
		"name":    "AddPermission20150331v2",
		"badpat":  "[",
		"policy":  policy,
		"doc":     map[string]any{"Statement": []any{map[string]any{"Effect": "Deny"}}},
		"b64":     base64.StdEncoding.EncodeToString([]byte("hello world")),
		"b64url":  base64.RawURLEncoding.EncodeToString([]byte{0xfb, 0xff, 0xbf}),
		"cmd":     "powershell -EncodedCommand SQBFAFgA",
		"mixed":   "Mimikatz.exe",
	}
	tests := []struct {
		code string
		want any
	}{
		// cidr
		{`cidr(ip, "10.0.0.0/8")`, true},
		{`cidr(ip, "11.0.0.0/8")`, false},
		{`cidr(ip, "192.168.0.0/16", "10.0.0.0/8")`, true},
		{`cidr(ip, ["192.168.0.0/16", "10.0.0.0/8"])`, true},
		{`cidr(ip, nets)`, true},
		{`cidr(ip, "10.1.2.3")`, true}, // a bare address
		{`cidr(ip, "10.1.2.4")`, false},
		{`cidr(ip, "10.1.2.3/8")`, true}, // host bits are ignored
		{`cidr(ip, "0.0.0.0/0")`, true},
		{`cidr(ip, "::/0")`, false}, // an IPv4 address is in no IPv6 prefix
		{`cidr(ip6, "2001:db8::/32")`, true},
		{`cidr(ip6, "2001:db9::/32")`, false},
		{`cidr(mapped, "10.0.0.0/8")`, true},
		{`cidr(ip, "::ffff:10.0.0.0/104")`, true},
		{`cidr(zoned, "fe80::/10")`, true},
		{`cidr(host, "10.0.0.0/8")`, false},    // not an address
		{`cidr(missing, "10.0.0.0/8")`, false}, // nil
		{`cidr(a.b.c, "10.0.0.0/8")`, false},   // nil through nil-safe access
		{`cidr(num, "10.0.0.0/8")`, false},     // not a string
		{`cidr(ip, badcidr)`, false},           // an invalid prefix at run time
		{`cidr(ip, missing)`, false},
		{`cidr(ip, [1, nil, "10.0.0.0/8"])`, true},
		{`cidr("", "10.0.0.0/8")`, false},
		// regex
		{`regex(name, "^AddPermission")`, true},
		{`regex(name, "^Remove")`, false},
		{`regex(name, "(?i)addpermission")`, true},
		{`regex(name, "2015")`, true}, // unanchored, like matches
		{`regex(missing, "x")`, false},
		{`regex(num, "3")`, false},
		{`regex(name, badpat)`, false},
		{`regex(name, missing)`, false},
		// lower, upper, trim: expr's builtins, nil-safe here
		{`lower(mixed)`, "mimikatz.exe"},
		{`lower(missing)`, ""},
		{`upper(a.b)`, ""},
		{`trim(missing)`, ""},
		// base64decode
		{`base64decode(b64)`, "hello world"},
		{`base64decode("aGVsbG8gd29ybGQ")`, "hello world"}, // unpadded
		{`base64decode(b64url)`, "\xfb\xff\xbf"},           // URL alphabet
		{`base64decode("+/+/")`, "\xfb\xff\xbf"},           // standard alphabet
		{`base64decode("aGVs\nbG8=")`, "hello"},            // line breaks
		{`base64decode("aGVsbG8===")`, "hello"},            // extra padding
		{`base64decode("not base64!")`, ""},
		{`base64decode("a")`, ""},
		{`base64decode("+/-_")`, ""}, // mixed alphabets
		{`base64decode(missing)`, ""},
		{`base64decode(num)`, ""},
		{`base64decode("")`, ""},
		// json
		{`json(policy, "Statement[0].Principal.AWS")`, "*"},
		{`json(policy, "Statement[0].Condition.ArnLike[\"AWS:SourceArn\"]")`, "arn:x"},
		{`json(policy, "Statement[0].Condition.ArnLike.AWS:SourceArn")`, "arn:x"},
		{`json(policy, "Statement[1][\"a.b\"].c")`, true},
		{`json(policy, "Statement[1]['a.b'].c")`, true},
		{`json(policy, "Statement[-1].Principal.Service")`, "s3.amazonaws.com"},
		{`json(policy, "Statement[0].n")`, float64(3)},
		{`json(policy, "Statement[2]")`, nil},
		{`json(policy, "Statement[-3]")`, nil},
		{`json(policy, "Statement.Principal")`, nil}, // a list has no keys
		{`json(policy, "Version[0]")`, nil},          // a string has no index
		{`json(policy, "Nope.Deeper[0].x")`, nil},
		{`json(policy, "Version")`, "2012-10-17"},
		{`len(json(policy, "Statement"))`, 2},
		{`json("[1,2]", "")`, []any{float64(1), float64(2)}},
		{`json("[1,2]", "[1]")`, float64(2)},
		{`json(doc, "Statement[0].Effect")`, "Deny"}, // already decoded
		{`json("{not json", "a")`, nil},
		{`json(missing, "a")`, nil},
		{`json(num, "a")`, nil},
		{`json(policy, missing)`, nil},
		{`json(policy, "Statement[0].Principal.AWS") == "*"`, true},
		{`any(json(policy, "Statement"), json(#, "Principal.AWS") == "*")`, true},
		// parseJSON (existing)
		{`parseJSON(policy).Statement[0].Effect`, "Allow"},
		{`parseJSON("nope")`, nil},
		{`parseJSON(missing)`, nil},
		// entropy
		{`entropy("")`, 0.0},
		{`entropy("aaaa")`, 0.0},
		{`entropy("ab")`, 1.0},
		{`entropy("abcd")`, 2.0},
		{`entropy("aabb")`, 1.0},
		{`entropy("éèéè")`, 1.0}, // per character, not per byte
		{`entropy(missing)`, 0.0},
		{`entropy(num)`, 0.0},
		{`entropy("0123456789abcdef") > 3.99`, true},
		// contains_any, icontains_any
		{`contains_any(cmd, ["-EncodedCommand", "-enc "])`, true},
		{`contains_any(cmd, ["-encodedcommand"])`, false}, // case-sensitive
		{`icontains_any(cmd, ["-encodedcommand"])`, true},
		{`icontains_any(mixed, ["MIMIKATZ"])`, true},
		{`contains_any(cmd, "nope", "SQBF")`, true}, // variadic form
		{`contains_any(cmd, [])`, false},
		{`contains_any(cmd, ["", 1, nil])`, false}, // "" and non-strings are ignored
		{`contains_any(missing, ["a"])`, false},
		{`contains_any(num, ["3"])`, false},
		{`contains_any(cmd, missing)`, false},
		{`icontains_any(missing, ["a"])`, false},
		{`contains_any(ip, nets)`, false},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			got := evalExpr(t, tt.code, env)
			if f, ok := tt.want.(float64); ok {
				if g, ok := got.(float64); !ok || math.Abs(g-f) > 1e-9 {
					t.Fatalf("got %#v, want %v", got, f)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestBase64DecodeBound(t *testing.T) {
	data := strings.Repeat("abc", MaxBase64Decode/3+1000)
	enc := base64.StdEncoding.EncodeToString([]byte(data))
	got := base64Decode(enc)
	if len(got) > MaxBase64Decode || len(got) < MaxBase64Decode-3 || !strings.HasPrefix(data, got) {
		t.Fatalf("decoded %d bytes, want the first %d", len(got), MaxBase64Decode)
	}
}

func TestRegexCacheBounded(t *testing.T) {
	for i := range MaxRegexCache * 2 {
		if !regexCache.get("x" + strings.Repeat("y", i%50) + string(rune('a'+i%26))).MatchString("x" + strings.Repeat("y", i%50) + string(rune('a'+i%26))) {
			t.Fatal("no match")
		}
	}
	n := 0
	regexCache.m.Range(func(any, any) bool { n++; return true })
	if n > MaxRegexCache {
		t.Fatalf("%d cached patterns, want at most %d", n, MaxRegexCache)
	}
	if regexCache.get("[") != nil {
		t.Fatal("an invalid pattern compiled")
	}
}

func TestJSONPathSyntax(t *testing.T) {
	for path, want := range map[string]string{
		"":           "",
		"a":          "",
		"a.b[0].c":   "",
		"[0]":        "",
		"a[-1]":      "",
		`a["x.y"].z`: "",
		".a":         "empty key at offset 0",
		"a..b":       "empty key at offset 2",
		"a.":         "empty key at offset 2",
		"a[0":        "unclosed [ at offset 1",
		`a["x]`:      "unclosed [ at offset 1",
		"a[x]":       "[x] is neither an index nor a quoted key",
		"a[0]b":      "want . or [ at offset 4",
	} {
		_, err := jsonPath(nil, path)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("jsonPath(%q): %q, want %q", path, got, want)
		}
	}
}
