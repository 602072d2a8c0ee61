package main

import (
	"strings"
	"testing"
)

// TestCompileHuntAll: without --source, a hunt covers the sources whose
// schema accepts the expression, and the sources without a schema.
func TestCompileHuntAll(t *testing.T) {
	tests := []struct{ expr, want, err string }{
		{expr: `actor == "kim"`, want: "cloudtrail,k8s-audit,apigateway,azure,container,envoy,gcp,json,lambda,otlp,syslog"},
		{expr: `eventName == "StopLogging"`, want: "cloudtrail,apigateway,azure,container,envoy,gcp,json,lambda,otlp,syslog"},
		{expr: `verb == "create" and objectRef.subresource == "exec"`, want: "k8s-audit,apigateway,azure,container,envoy,gcp,json,lambda,otlp,syslog"},
		{expr: `eventNmae == "x"`, err: "expression 1:1"},
	}
	for _, tt := range tests {
		_, sources, err := compileHuntAll(tt.expr)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want …%s…", tt.expr, err, tt.err)
			}
			continue
		}
		if err != nil || strings.Join(sources, ",") != tt.want {
			t.Errorf("%s: sources %v, %v; want %s", tt.expr, sources, err, tt.want)
		}
	}
}
