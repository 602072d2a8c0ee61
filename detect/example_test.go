package detect_test

import (
	"fmt"
	"testing/fstest"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/event"
)

func Example() {
	fsys := fstest.MapFS{"rules/stop.yaml": {Data: []byte(`
id: cloudtrail-stopped
title: CloudTrail logging stopped
severity: critical
source: cloudtrail
when: eventSource == "cloudtrail.amazonaws.com" and eventName == "StopLogging" and errorCode == ""
summary: "{{ actor }} stopped {{ requestParameters.name }} from {{ src_ip }} (MFA: {{ userIdentity.sessionContext.attributes.mfaAuthenticated }})"
`)}}
	rules, errs := detect.LoadFS(fsys, "rules")
	if len(errs) > 0 {
		fmt.Println(errs)
		return
	}
	eng, err := detect.NewEngine(rules)
	if err != nil {
		fmt.Println(err)
		return
	}
	m := eng.NewMatcher() // one per worker goroutine

	var ev event.Event
	rec := `{"eventTime":"2026-11-24T09:21:02Z","eventID":"5f0c","eventSource":"cloudtrail.amazonaws.com",
		"eventName":"StopLogging","sourceIPAddress":"45.137.21.9","requestParameters":{"name":"acct-audit"},
		"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::604827195318:user/svc-reporting"}}`
	if err := (ingest.CloudTrail{}).Decode([]byte(rec), &ev); err != nil {
		fmt.Println(err)
		return
	}
	findings, err := m.Match(&ev, nil)
	for _, f := range findings {
		fmt.Println(f.Severity, f.RuleID, f.AlertID == event.AlertID(f.RuleID, "5f0c"))
		fmt.Println(f.Summary)
	}
	fmt.Println(err)
	// Output:
	// critical cloudtrail-stopped true
	// arn:aws:iam::604827195318:user/svc-reporting stopped acct-audit from 45.137.21.9 (MFA: -)
	// <nil>
}
