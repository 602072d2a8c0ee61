package detect

import (
	gojson "github.com/goccy/go-json"

	"github.com/expr-lang/expr"
)

// MaxParseJSON caps the input of parseJSON in bytes.
const MaxParseJSON = 64 << 10

// parseJSONFunc adds parseJSON(s) to the rule language: it decodes a JSON
// document held in a string field, such as the policy statement Lambda's
// AddPermission returns in responseElements.statement or the
// policyDocument of IAM's PutUserPolicy. It returns nil, rather than
// failing, when s is not a string, is longer than MaxParseJSON, or is not
// valid JSON, so that `parseJSON(x)?.Statement` is safe on any input.
// Numbers decode as float64, like every number in a record.
var parseJSONFunc = expr.Function("parseJSON", func(params ...any) (any, error) {
	s, ok := params[0].(string)
	if !ok || len(s) > MaxParseJSON {
		return nil, nil
	}
	var v any
	if err := gojson.Unmarshal([]byte(s), &v); err != nil {
		return nil, nil
	}
	return v, nil
}, new(func(any) any))
