package ingest

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/tripline/tripline/ingest/apigw"
)

// LogGroupRoute sends the CloudWatch Logs groups whose name matches Match
// to the decoder of Source, before the built-in choice.
type LogGroupRoute struct {
	// Match is a log group name where "*" stands for any run of
	// characters, "/" included, e.g. "/ecs/*/envoy".
	Match string `yaml:"match"`
	// Source is the source name whose decoder reads the group's lines.
	Source string `yaml:"source"`
}

// logGroupRoutes are compiled routes, tried in order.
type logGroupRoutes []struct {
	re     *regexp.Regexp
	source string
}

// compileRoutes checks and compiles routes against the known decoders.
func compileRoutes(routes []LogGroupRoute, decoders map[string]Decoder) (logGroupRoutes, error) {
	out := make(logGroupRoutes, 0, len(routes))
	for i, r := range routes {
		if r.Match == "" {
			return nil, fmt.Errorf("log group route %d: match is empty", i+1)
		}
		if _, ok := decoders[r.Source]; !ok {
			return nil, fmt.Errorf("log group route %d (%s): unknown source %q", i+1, r.Match, r.Source)
		}
		pat := "^" + strings.ReplaceAll(regexp.QuoteMeta(r.Match), `\*`, ".*") + "$"
		out = append(out, struct {
			re     *regexp.Regexp
			source string
		}{regexp.MustCompile(pat), r.Source})
	}
	return out, nil
}

// ValidateLogGroupRoutes reports the first route that is not usable with
// the given decoders.
func ValidateLogGroupRoutes(routes []LogGroupRoute, decoders map[string]Decoder) error {
	_, err := compileRoutes(routes, decoders)
	return err
}

// logGroupSource says which source's decoder reads a log stream of a log
// group: the first configured route that matches the group, else
// /aws/lambda/<fn> is "lambda", an EKS control plane group's
// kube-apiserver-audit streams are "k8s-audit", API Gateway execution log
// groups and groups named for API Gateway are "apigateway", a group whose
// name contains "cloudtrail" is "cloudtrail", and anything else is "json"
// (where a line that looks like an API Gateway access log line is read as
// one, and a line that is not a JSON object becomes {"message": line}).
func (h *Handler) logGroupSource(group, stream string) string {
	for _, r := range h.routes {
		if r.re.MatchString(group) {
			return r.source
		}
	}
	lower := strings.ToLower(group)
	switch {
	case LambdaFunction(group) != "":
		return "lambda"
	case strings.HasPrefix(group, "/aws/eks/") && strings.HasPrefix(stream, "kube-apiserver-audit"):
		return "k8s-audit"
	case apigw.IsExecutionLogGroup(group) || apigw.IsAccessLogGroup(group):
		return "apigateway"
	case strings.Contains(lower, "cloudtrail"):
		return "cloudtrail"
	}
	return "json"
}
