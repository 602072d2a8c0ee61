package detect

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/expr-lang/expr/vm"
)

// BenchmarkHelpers measures one call of each helper function in a
// compiled expression, on values like those of real records, with expr
// builtins for comparison. A helper costs this only on the events that
// reach it: the prefilter and the when expression's earlier terms skip
// most.
func BenchmarkHelpers(b *testing.B) {
	users := make([]string, 100)
	for i := range users {
		users[i] = `"user` + itoa(i) + `"`
	}
	env := map[string]any{
		"ip":     "172.31.44.9",
		"ua":     "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10 md/arch#x86_64 lang/python#3.12.2 cfg/retry-mode#legacy Botocore/1.34.69",
		"b64":    base64.StdEncoding.EncodeToString([]byte("#!/bin/bash\nyum install -y httpd\ncurl -s http://169.254.169.254/latest/meta-data/ | sh\n")),
		"policy": `{"Sid":"public","Effect":"Allow","Principal":{"AWS":"*"},"Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:111122223333:function:f"}`,
		"key":    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"cmd":    "/bin/sh -c " + strings.Repeat("x", 100) + " | base64 -d | sh",
		"name":   "user77",
	}
	for _, bc := range []struct{ name, code string }{
		{"cidr/3", `cidr(ip, "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")`},
		{"cidr/missing", `cidr(nope, "10.0.0.0/8")`},
		{"regex", `regex(ua, "(?i)(curl|python-requests|sqlmap|nikto)")`},
		{"builtin-matches", `ua matches "(?i)(curl|python-requests|sqlmap|nikto)"`},
		{"lower", `lower(ua) startsWith "boto3"`},
		{"base64decode", `base64decode(b64) contains "169.254.169.254"`},
		{"json", `json(policy, "Principal.AWS") == "*"`},
		{"parseJSON", `parseJSON(policy).Principal.AWS == "*"`},
		{"entropy/40", `entropy(key) > 4.5`},
		{"contains_any/5", `contains_any(cmd, ["base64 -d", "| sh", "curl ", "wget ", "nc -e"])`},
		{"icontains_any/5", `icontains_any(cmd, ["BASE64 -D", "| SH", "CURL ", "WGET ", "NC -E"])`},
		{"in-list/100", `name in [` + strings.Join(users, ", ") + `]`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			prog, err := compileExpr(bc.code, nil, true)
			if err != nil {
				b.Fatal(err)
			}
			var m vm.VM
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Run(prog, env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
