package detect

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/event"
)

// stratusWant lists, for every stratus-red-team technique in the corpus,
// the rules that fire on its detonation. Techniques the pack does not
// cover (instance-level EC2/SSM activity, Bedrock, Roles Anywhere) fire
// nothing.
var stratusWant = map[string][]string{
	"aws.credential-access.ec2-get-password-data":                 nil,
	"aws.credential-access.ec2-steal-instance-credentials":        nil,
	"aws.credential-access.secretsmanager-batch-retrieve-secrets": {"aws-secrets-read-by-human"},
	"aws.credential-access.secretsmanager-retrieve-secrets":       {"aws-secrets-read-by-human"},
	"aws.credential-access.ssm-retrieve-securestring-parameters":  nil,
	"aws.defense-evasion.cloudtrail-delete":                       {"aws-cloudtrail-stopped"},
	"aws.defense-evasion.cloudtrail-event-selectors":              {"aws-cloudtrail-coverage-reduced"},
	"aws.defense-evasion.cloudtrail-stop":                         {"aws-cloudtrail-stopped"},
	"aws.defense-evasion.dns-delete-logs":                         {"aws-network-logging-deleted"},
	"aws.defense-evasion.organizations-leave":                     {"aws-organizations-leave"},
	"aws.defense-evasion.vpc-remove-flow-logs":                    {"aws-network-logging-deleted"},
	"aws.discovery.ec2-download-user-data":                        nil,
	"aws.execution.ec2-launch-unusual-instances":                  nil,
	"aws.execution.ec2-user-data":                                 nil,
	"aws.execution.ssm-send-command":                              nil,
	"aws.execution.ssm-start-session":                             nil,
	"aws.exfiltration.ec2-security-group-open-port-22-ingress":    {"aws-ec2-security-group-world-open"},
	"aws.exfiltration.ec2-share-ami":                              {"aws-snapshot-or-image-shared"},
	"aws.exfiltration.ec2-share-ebs-snapshot":                     {"aws-snapshot-or-image-shared"},
	"aws.exfiltration.rds-share-snapshot":                         {"aws-snapshot-or-image-shared"},
	"aws.impact.bedrock-invoke-model":                             nil,
	"aws.initial-access.console-login-without-mfa":                {"aws-console-login-without-mfa"},
	"aws.lateral-movement.ec2-instance-connect":                   nil,
	"aws.lateral-movement.ec2-serial-console-send-ssh-public-key": nil,
	"aws.persistence.iam-backdoor-role":                           {"aws-iam-role-trust-opened"},
	"aws.persistence.iam-backdoor-user":                           {"aws-iam-access-key-for-other-user"},
	"aws.persistence.iam-create-admin-user":                       {"aws-iam-access-key-for-other-user", "aws-iam-admin-policy-attached"},
	"aws.persistence.iam-create-backdoor-role":                    {"aws-iam-admin-policy-attached"},
	"aws.persistence.iam-create-user-login-profile":               {"aws-iam-login-profile-for-other-user"},
	"aws.persistence.lambda-backdoor-function":                    {"aws-lambda-permission-public"},
	"aws.persistence.lambda-layer-extension":                      {"aws-lambda-layer-added-by-human"},
	"aws.persistence.lambda-overwrite-code":                       {"aws-lambda-code-updated-by-human"},
	"aws.persistence.rolesanywhere-create-trust-anchor":           nil,
	"aws.persistence.sts-federation-token":                        {"aws-sts-federation-token"},
	"aws.privilege-escalation.iam-update-user-login-profile":      {"aws-iam-login-profile-for-other-user"},
}

// TestStratusCorpus runs the pack over real CloudTrail captured while
// detonating attack techniques, which the rules were not written from.
func TestStratusCorpus(t *testing.T) {
	requireCorpus(t, "stratus-red-team")
	eng, _ := NewEngine(builtinRules(t))
	m := eng.NewMatcher()
	files := stratusFiles(t)
	for technique := range stratusWant {
		if _, ok := files[technique]; !ok {
			t.Errorf("%s: no detonation log in %s", technique, filepath.Join(corpusDir, "stratus-red-team"))
		}
	}
	covered := 0
	for technique, recs := range files {
		fired := map[string]bool{}
		for _, raw := range recs {
			var ev event.Event
			if err := (ingest.CloudTrail{}).Decode(raw, &ev); err != nil {
				t.Errorf("%s: %v", technique, err)
				continue
			}
			out, err := m.Match(&ev, nil)
			if err != nil {
				t.Errorf("%s: %v", technique, err)
			}
			for _, f := range out {
				fired[f.RuleID] = true
			}
		}
		var got []string
		for id := range fired {
			got = append(got, id)
		}
		sort.Strings(got)
		want, known := stratusWant[technique]
		if !known {
			t.Errorf("%s: technique not in stratusWant (fired %v)", technique, got)
			continue
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: fired %v, want %v", technique, got, want)
		}
		if len(got) > 0 {
			covered++
		}
		t.Logf("%-62s %s", technique, strings.Join(got, ", "))
	}
	t.Logf("%d of %d techniques detected", covered, len(files))
}

// pantherMap pairs Panther rules with the pack rule that covers the same
// behaviour. A stateful rule is judged by its per-event match (what it
// counts), as Panther's labels judge its rule() before any threshold. Their semantics differ; the labels find false positives and
// negatives to reason about, not verdicts to copy.
var pantherMap = map[string]string{
	"AWS.Console.LoginWithoutMFA":                     "aws-console-login-without-mfa",
	"AWS.Lambda.UpdateFunctionCode":                   "aws-lambda-code-updated-by-human",
	"AWS.Lambda.UpdateFunctionConfiguration":          "aws-lambda-layer-added-by-human",
	"AWS.Potential.Backdoor.Lambda":                   "aws-lambda-permission-public",
	"AWS.CloudTrail.Stopped":                          "aws-cloudtrail-stopped",
	"AWS.CloudTrail.EventSelectorsDisabled":           "aws-cloudtrail-coverage-reduced",
	"AWS.IAM.AttachAdminRolePolicy":                   "aws-iam-admin-policy-attached",
	"AWS.IAM.AttachAdminUserPolicy":                   "aws-iam-admin-policy-attached",
	"AWS.IAM.Backdoor.User.Keys":                      "aws-iam-access-key-for-other-user",
	"AWS.SecretsManager.RetrieveSecrets":              "aws-secrets-read-by-human",
	"AWS.SecretsManager.BatchRetrieveSecrets":         "aws-secrets-read-by-human",
	"AWS.SecretsManager.BatchRetrieveSecretsCatchAll": "aws-secrets-read-by-human",
	"AWS.SecretsManager.RetrieveSecretsMultiRegion":   "aws-secrets-read-by-human",
	"AWS.Console.RootLogin":                           "aws-root-account-used",
	"AWS.Root.Activity":                               "aws-root-account-used",
	"AWS.CloudTrail.RootAccessKeyCreated":             "aws-root-account-used",
	"AWS.CloudTrail.RootPasswordChanged":              "aws-root-account-used",
	"AWS.ConfigService.DisabledDeleted":               "aws-security-service-disabled",
	"AWS.CloudTrail.AttemptToLeaveOrg":                "aws-organizations-leave",
	"AWS.CloudTrail.LoginProfileCreatedOrModified":    "aws-iam-login-profile-for-other-user",
	"AWS.User.Login.Profile.Modified":                 "aws-iam-login-profile-for-other-user",
	"AWS.CloudTrail.ResourceMadePublic":               "aws-resource-policy-public",
	"AWS.CloudTrail.SnapshotMadePublic":               "aws-snapshot-or-image-shared",
	"AWS.CloudTrail.AMIModifiedForPublicAccess":       "aws-snapshot-or-image-shared",
	"AWS.RDS.SnapshotShared":                          "aws-snapshot-or-image-shared",
	"AWS.IAM.BackdoorRole":                            "aws-iam-role-trust-opened",
	"AWS.CloudTrail.DNSLogsDeleted":                   "aws-network-logging-deleted",
	"AWS.VPCFlow.LogsDeleted":                         "aws-network-logging-deleted",
	"AWS.IAMUser.ReconAccessDenied":                   "aws-denied-api-enumeration",
	"AWS.CloudTrail.UnauthorizedAPICall":              "aws-access-denied-burst",
	"AWS.Console.RootLoginFailed":                     "aws-console-login-brute-force",
}

// pantherExplained lists the reviewed disagreements, by Panther rule and
// test name, with the reason the pack's verdict stands.
var pantherExplained = map[string]string{
	"AWS.Lambda.UpdateFunctionConfiguration/IAM User Updates Lambda Configuration with Layers":        "only responseElements.layers is set; it lists the function's current layers on every configuration change, so the pack requires requestParameters.layers (as in the real stratus record)",
	"AWS.Lambda.UpdateFunctionConfiguration/SSO AssumedRole Updates Lambda Configuration with Layers": "same: no layers in the request",
	"AWS.Lambda.UpdateFunctionConfiguration/FederatedUser Updates Lambda Configuration with Layers":   "same: no layers in the request",
	"AWS.Potential.Backdoor.Lambda/Lambda Add Permission Event":                                       "Panther alerts on every AddPermission; the record has no principal, and permissions for services or named accounts are routine, so the pack needs a public principal",
	"AWS.Potential.Backdoor.Lambda/Lambda Add Permission Event v2":                                    "same: no public principal",
	"AWS.Console.LoginWithoutMFA/No MFA Login - New User":                                             "Panther's verdict comes from a mocked lookup (user created moments ago); a password-only login is the signal either way",
	"AWS.CloudTrail.AMIModifiedForPublicAccess/AMI Added to User":                                     "Panther's rule is about public AMIs only; sharing an AMI with another account is exfiltration too (stratus ec2-share-ami)",
	"AWS.CloudTrail.RootAccessKeyCreated/Root Created Access Key For User":                            "Panther's rule is about root's own key; root creating a key for a user is still root activity",
	"AWS.Root.Activity/Root Activity - CreateServiceLinkedRole":                                       "Panther ignores service-linked role creation; a root user creating one is still root making a change",
	"AWS.SecretsManager.RetrieveSecrets/GetSecretValue Denied":                                        "Panther's rule counts denied reads (threshold 20); failed calls do not fire in this pack",
	"AWS.SecretsManager.BatchRetrieveSecrets/BatchGetSecretValue":                                     "the record has no userIdentity; Panther alerts on any batch read, the pack on reads by people",
	"AWS.SecretsManager.BatchRetrieveSecretsCatchAll/BatchGetSecretValue Catch-All":                   "same: no userIdentity",
	"AWS.SecretsManager.RetrieveSecretsMultiRegion/BatchGetSecretValue in us-east-1":                  "same: no userIdentity (Panther's rule is a multi-region threshold)",
	"AWS.IAMUser.ReconAccessDenied/Unauthorized API Call":                                             "the denial carries userIdentity.invokedBy (signin.amazonaws.com): a call a service made on the principal's behalf, which the denial rules do not count (rules/README.md, AWS acting for itself)",
	"AWS.CloudTrail.UnauthorizedAPICall/Unauthorized API Call from Within AWS (IP)":                   "same: invokedBy is set (and the user agent is sqs.amazonaws.com), a service's call, not the principal's own",
}

// TestPantherCorpus compares the pack with Panther's labelled tests for
// the rules that cover the same behaviour, and reports precision and
// recall against Panther's labels. Unreviewed disagreements fail.
func TestPantherCorpus(t *testing.T) {
	requireCorpus(t, filepath.Join("panther-tests", "aws_cloudtrail_rules.jsonl"))
	rows := pantherRows(t)
	if len(rows) == 0 {
		t.Fatal("no Panther tests in the corpus")
	}
	eng, _ := NewEngine(builtinRules(t))
	m := eng.NewMatcher()
	var tp, fp, fn, tn, undecodable, otherHits int
	perRule := map[string]*[4]int{}
	for _, row := range rows {
		var ev event.Event
		if err := (ingest.CloudTrail{}).Decode(normalizeTime(row.Log), &ev); err != nil {
			undecodable++
			continue
		}
		out, err := m.Match(&ev, nil)
		if err != nil {
			t.Errorf("%s/%s: %v", row.RuleID, row.Test, err)
		}
		ids := ruleIDs(out)
		// A stateful rule's per-event verdict is its match (what it
		// counts), as Panther's labels are its rule() before a threshold.
		for _, mt := range m.Matches() {
			ids = append(ids, mt.RuleID)
		}
		mine, mapped := pantherMap[row.RuleID]
		if !mapped {
			if len(out) > 0 {
				otherHits++
				t.Logf("also fires on %s (expected %v) %q: %v", row.RuleID, row.Expected, row.Test, ruleIDs(out))
			}
			continue
		}
		got := slices.Contains(ids, mine)
		c := perRule[mine]
		if c == nil {
			c = &[4]int{}
			perRule[mine] = c
		}
		switch {
		case got && row.Expected:
			tp++
			c[0]++
		case got && !row.Expected:
			fp++
			c[1]++
		case !got && row.Expected:
			fn++
			c[2]++
		default:
			tn++
			c[3]++
		}
		if got != row.Expected {
			reviewDisagreement(t, pantherExplained, row.RuleID+"/"+row.Test, row.Expected, got, mine)
		}
	}
	logAgreement(t, perRule)
	total := tp + fp + fn + tn
	t.Logf("panther: %d tests, %d undecodable, %d on mapped rules: agreement %d/%d (%.1f%%), precision %s, recall %s; the pack also fired on %d tests of other rules",
		len(rows), undecodable, total, tp+tn, total, 100*float64(tp+tn)/float64(max(total, 1)),
		ratio(tp, tp+fp), ratio(tp, tp+fn), otherHits)
}

func ratio(a, b int) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%d/%d (%.1f%%)", a, b, 100*float64(a)/float64(b))
}

// fakeTB records Fatal and Skip instead of stopping the test.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Fatal(args ...any) { f.fatal = fmt.Sprint(args...) }
func (f *fakeTB) Skip(args ...any)  { f.skip = fmt.Sprint(args...) }

// TestRequireCorpus checks that a missing corpus skips outside CI and
// fails in CI.
func TestRequireCorpus(t *testing.T) {
	saved := corpusDir
	t.Cleanup(func() { corpusDir = saved })
	corpusDir = t.TempDir()
	if err := os.Mkdir(filepath.Join(corpusDir, "part"), 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join("no-such-part", "x.jsonl")
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		f := &fakeTB{TB: t}
		requireCorpus(f, "part")
		if f.fatal != "" || f.skip != "" {
			t.Errorf("CI=%q, corpus present: fatal %q, skip %q", ci, f.fatal, f.skip)
		}
	}
	t.Setenv("CI", "")
	f := &fakeTB{TB: t}
	requireCorpus(f, missing)
	if f.fatal != "" || !strings.Contains(f.skip, "no-such-part") {
		t.Errorf("outside CI: fatal %q, skip %q; want a skip naming the missing part", f.fatal, f.skip)
	}
	t.Setenv("CI", "true")
	f = &fakeTB{TB: t}
	requireCorpus(f, missing)
	if f.skip != "" || !strings.Contains(f.fatal, "no-such-part") || !strings.Contains(f.fatal, "CI is set") {
		t.Errorf("in CI: fatal %q, skip %q; want a failure naming the missing part", f.fatal, f.skip)
	}
}

// pantherK8sMap pairs Panther's Kubernetes rules (and their EKS variants)
// with the pack rule that covers the same behaviour. Only the tests whose
// event is a Kubernetes audit event (EKS) are run; AKS and GKE tests carry
// Azure and GCP envelopes the k8s-audit decoder does not read.
var pantherK8sMap = map[string]string{
	"Kubernetes.API.AnonymousAccess":           "k8s-anonymous-access-allowed",
	"Amazon.EKS.AnonymousAPIAccess":            "k8s-anonymous-access-allowed",
	"Kubernetes.Pod.Exec":                      "k8s-pod-exec-or-attach",
	"Kubernetes.Secrets.DumpAllNamespaces":     "k8s-secrets-read-outside-control-plane",
	"Kubernetes.ClusterRoleBinding.Privileged": "k8s-cluster-admin-bound",
	"Kubernetes.Pod.Privileged.Created":        "k8s-privileged-workload-created",
	"Kubernetes.Pod.Host.PID":                  "k8s-privileged-workload-created",
	"Kubernetes.Pod.Host.IPC":                  "k8s-privileged-workload-created",
	"Kubernetes.Pod.Host.Network":              "k8s-privileged-workload-created",
	"Kubernetes.Pod.HostPath.Volume":           "k8s-privileged-workload-created",
	"Kubernetes.Pod.Dangerous.Capabilities":    "k8s-privileged-workload-created",
	"Kubernetes.Role.Wildcard":                 "k8s-rbac-wildcard-role",
	"Kubernetes.ServiceAccount.TokenCreated":   "k8s-serviceaccount-token-created",
}

// pantherK8sExplained lists the reviewed disagreements of
// TestPantherK8sCorpus, by Panther rule and test name.
var pantherK8sExplained = map[string]string{
	"Kubernetes.ClusterRoleBinding.Privileged/EKS ClusterRoleBinding to controller-manager role": "k8s-cluster-admin-bound is about cluster-admin; a binding to system:kube-controller-manager (or other powerful system: roles) is a gap of the pack, not caught by any rule yet",
	"Kubernetes.ClusterRoleBinding.Privileged/RoleBinding (not ClusterRoleBinding)":              "a RoleBinding to cluster-admin gives full control of the namespace, its secrets and workloads included; the pack fires on both binding kinds",
	"Kubernetes.Pod.Privileged.Created/Run-As-Root Pod Created":                                  "running as root inside an unprivileged container gives no access to the node; the pack fires on privileged, host namespaces, dangerous capabilities and host paths (root images are too common to alert on)",
	"Kubernetes.Pod.Privileged.Created/Pod with runAsUser=0 (root)":                              "same: runAsUser 0 without privileges or capabilities",
	"Kubernetes.Role.Wildcard/Updating existing role (not creating)":                             "Panther alerts on creation only; widening an existing role to * on * (update) is the same escalation",
	"Kubernetes.Secrets.DumpAllNamespaces/Namespaced secret list (not cluster-wide)":             "the pack's rule is broader than Panther's: any secret read by a person fires (workloads only for cluster-wide lists)",
	"Kubernetes.Secrets.DumpAllNamespaces/Get single secret (not list)":                          "same: a person read a secret",
}

// pantherK8sRows reads the Kubernetes audit tests of Panther's Kubernetes
// and EKS rules, completed into events the k8s-audit decoder accepts:
// Panther's test events often leave out kind, apiVersion, auditID, stage
// and the timestamps, which a real audit event always has; a missing stage
// is taken as ResponseComplete (the events describe finished requests) and
// a missing verb as get (the anonymous-access tests have none).
func pantherK8sRows(t testing.TB) []pantherRow {
	t.Helper()
	var rows []pantherRow
	for _, name := range []string{"kubernetes_rules.jsonl", "aws_eks_rules.jsonl"} {
		path := filepath.Join(corpusDir, "panther-tests", name)
		if _, err := os.Stat(path); err != nil {
			continue
		}
		for i, line := range readNDJSON(t, path) {
			var r pantherRow
			if err := json.Unmarshal(line, &r); err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if json.Unmarshal(r.Log, &m) != nil || m == nil || m["p_log_type"] != "Amazon.EKS.Audit" {
				continue
			}
			defaults := map[string]any{
				"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
				"auditID": fmt.Sprintf("panther-%s-%d", name, i), "stage": "ResponseComplete", "verb": "get",
				"requestReceivedTimestamp": DefaultTestEventTime, "stageTimestamp": DefaultTestEventTime,
			}
			for k, v := range defaults {
				if s, ok := m[k].(string); !ok || s == "" {
					m[k] = v
				}
			}
			r.Log, _ = json.Marshal(m)
			rows = append(rows, r)
		}
	}
	return rows
}

// TestPantherK8sCorpus compares the pack's Kubernetes rules with
// Panther's labelled EKS audit tests, as TestPantherCorpus does for
// CloudTrail. Unreviewed disagreements fail.
func TestPantherK8sCorpus(t *testing.T) {
	requireCorpus(t, filepath.Join("panther-tests", "kubernetes_rules.jsonl"))
	rows := pantherK8sRows(t)
	if len(rows) == 0 {
		t.Fatal("no Panther Kubernetes audit tests in the corpus")
	}
	eng, _ := NewEngine(builtinRules(t))
	m := eng.NewMatcher()
	var agree, total, undecodable int
	perRule := map[string]*[4]int{}
	for _, row := range rows {
		mine, mapped := pantherK8sMap[row.RuleID]
		var ev event.Event
		if err := (ingest.K8sAudit{}).Decode(row.Log, &ev); err != nil {
			if mapped {
				undecodable++
				t.Logf("undecodable %s/%s: %v", row.RuleID, row.Test, err)
			}
			continue
		}
		out, err := m.Match(&ev, nil)
		if err != nil {
			t.Errorf("%s/%s: %v", row.RuleID, row.Test, err)
		}
		ids := ruleIDs(out)
		for _, mt := range m.Matches() {
			ids = append(ids, mt.RuleID)
		}
		if !mapped {
			if len(ids) > 0 {
				t.Logf("also fires on %s (expected %v) %q: %v", row.RuleID, row.Expected, row.Test, ids)
			}
			continue
		}
		got := slices.Contains(ids, mine)
		c := perRule[mine]
		if c == nil {
			c = &[4]int{}
			perRule[mine] = c
		}
		total++
		switch {
		case got && row.Expected:
			c[0]++
		case got && !row.Expected:
			c[1]++
		case !got && row.Expected:
			c[2]++
		default:
			c[3]++
		}
		if got == row.Expected {
			agree++
			continue
		}
		reviewDisagreement(t, pantherK8sExplained, row.RuleID+"/"+row.Test, row.Expected, got, mine)
	}
	logAgreement(t, perRule)
	t.Logf("panther k8s: %d EKS audit tests, %d of mapped rules undecodable, %d on mapped rules: agreement %d/%d", len(rows), undecodable, total, agree, total)
}

// reviewDisagreement logs a disagreement with a Panther label that has a
// reviewed reason, and fails on one that has none.
func reviewDisagreement(t *testing.T, explained map[string]string, key string, want, got bool, rule string) {
	t.Helper()
	if reason, ok := explained[key]; ok {
		t.Logf("disagree (reviewed) %s: Panther %v, pack %v: %s", key, want, got, reason)
	} else {
		t.Errorf("unreviewed disagreement %s: Panther %v, pack %s %v", key, want, rule, got)
	}
}

// logAgreement logs, per Tripline rule, its agreement with the Panther
// labels: counts of true and false positives and negatives.
func logAgreement(t *testing.T, perRule map[string]*[4]int) {
	t.Helper()
	for _, id := range slices.Sorted(maps.Keys(perRule)) {
		c := perRule[id]
		t.Logf("%-40s agree %2d/%2d  (TP %d FP %d FN %d TN %d)", id, c[0]+c[3], c[0]+c[1]+c[2]+c[3], c[0], c[1], c[2], c[3])
	}
}
